// One audit vocabulary (db/audit-actions.ts), documented in docs/AUDIT.md, and the rows the
// seeds' audit reviews look for: a paid grant, a refund's and a dispute's revocation, a download
// issued, one denied and a forged link clicked — written by the real webhook, workflow and
// download paths against the suite's Postgres and Temporal.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIT_ACTIONS } from '../../db/audit-actions.ts';
import { WEBHOOK_RESULTS } from '../../db/tables/webhook-events.ts';
import {
  buildChargeRefundedEvent,
  buildDisputeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { waitFor } from '../../stack/processes.ts';
import { refundWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { postSignedEvent } from '../helpers/stripe.ts';
import { jsonOf, linksOf, OPERATOR_TOKENS, operators, ops, purchase } from '../ops/support.ts';

const root = new URL('../../', import.meta.url).pathname;
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(root, dir)).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(path.join(root, file)).isDirectory()) return sourceFiles(file);
    return file.endsWith('.ts') ? [file] : [];
  });
}

describe('the audit vocabulary', () => {
  it('is the only one the SQL that writes audit rows itself uses', () => {
    const files = ['db', 'api', 'gateway', 'support', 'activities', 'worker'].flatMap(sourceFiles);
    const written = new Set<string>();
    for (const file of files) {
      const text = read(file);
      for (const match of text.matchAll(/insert into audit_log[\s\S]*?(?=`)/g)) {
        for (const literal of match[0].matchAll(/'([a-z_]+\.[a-z_]+)'/g)) written.add(literal[1]!);
        if (/'webhook\.' \|\|/.test(match[0]))
          for (const result of WEBHOOK_RESULTS) written.add(`webhook.${result}`);
        if (/\$\{`webhook\.\$\{result\}`\}/.test(match[0]))
          for (const result of WEBHOOK_RESULTS) written.add(`webhook.${result}`);
      }
    }
    expect(written.size).toBeGreaterThan(5);
    for (const action of written) expect(AUDIT_ACTIONS, action).toContain(action);
  });

  it('is documented in docs/AUDIT.md, action by action, and nothing else is', () => {
    const all = read('docs/AUDIT.md');
    const doc = all.slice(all.indexOf('## Actions'), all.indexOf('## The seeds'));
    const documented = [...doc.matchAll(/^\| `([a-z_]+\.[a-z_]+)`/gm)].map((m) => m[1]!);
    expect([...documented].sort()).toEqual([...AUDIT_ACTIONS].sort());
  });
});

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { OPERATOR_TOKENS } });
});
afterAll(async () => {
  await stack?.close();
});

/** Audit rows about any of `targets`, oldest first. */
const auditAbout = (targets: string[]) =>
  stack.db
    .selectFrom('audit_log')
    .select(['actor', 'action', 'target', 'reason', 'detail', 'request_id'])
    .where('target', 'in', targets)
    .orderBy('id')
    .execute();

const click = (url: string) =>
  stack.app.inject({ method: 'GET', url, headers: { 'user-agent': 'audit-test' } });

describe('audit rows for purchases and downloads', () => {
  it('a paid purchase grants (system, cause payment); a download is issued; a refund revokes; a click is denied', async () => {
    const { paymentIntentId } = await purchase(stack);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    const order = rows.orders[0]!;
    const entitlement = rows.entitlements[0]!;
    expect(await auditAbout([entitlement.id])).toEqual([
      {
        actor: 'system',
        action: 'entitlement.granted',
        target: entitlement.id,
        reason: null,
        detail: expect.objectContaining({
          cause: 'payment',
          orderId: order.id,
          purchaseKey: paymentIntentId,
          previous: 'processing',
          status: 'pending_claim',
        }) as unknown,
        request_id: null,
      },
    ]);

    const [link] = await linksOf(stack, paymentIntentId);
    expect((await click(link!)).statusCode).toBe(302);

    const refund = buildChargeRefundedEvent({ paymentIntentId, amountRefunded: 2900 });
    expect((await postSignedEvent(stack.app, refund, stack.webhookSecret)).statusCode).toBe(200);
    const refundId = (refund.data.object as { refunds: { data: { id: string }[] } }).refunds
      .data[0]!.id;
    await stack.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();
    expect((await click(link!)).statusCode).toBe(403);

    const audit = await auditAbout([entitlement.id]);
    expect(audit.map((a) => [a.actor, a.action])).toEqual([
      ['system', 'entitlement.granted'],
      ['buyer', 'download.issued'],
      ['stripe', 'entitlement.revoked'],
      ['buyer', 'download.denied'],
    ]);
    expect(audit[1]).toMatchObject({
      detail: {
        format: 'pdf',
        via: 'email_link',
        status: 'pending_claim',
        userAgent: 'audit-test',
      },
    });
    expect(audit[1]!.request_id).toBeTruthy();
    expect(audit[2]).toMatchObject({
      detail: {
        cause: 'refund',
        externalId: refundId,
        orderId: order.id,
        previous: ['pending_claim'],
        status: 'revoked',
      },
    });
    expect(audit[3]).toMatchObject({ detail: { via: 'email_link', status: 'revoked' } });
  });

  it('a dispute suspends, and a lost one revokes (actor stripe, cause dispute)', async () => {
    const { paymentIntentId } = await purchase(stack);
    const entitlement = (await purchaseRows(stack.db, paymentIntentId)).entitlements[0]!;
    const disputeId = stripeTestId('dp');
    for (const status of ['needs_response', 'lost'] as const) {
      const event = buildDisputeEvent({ paymentIntentId, disputeId, status });
      expect((await postSignedEvent(stack.app, event, stack.webhookSecret)).statusCode).toBe(200);
      const expected = status === 'lost' ? 'revoked' : 'suspended';
      await waitFor(`entitlement ${expected}`, async () => {
        const rows = await purchaseRows(stack.db, paymentIntentId);
        return rows.entitlements[0]!.status === expected;
      });
    }
    const audit = await auditAbout([entitlement.id]);
    expect(audit.map((a) => [a.actor, a.action, (a.detail as { cause: string }).cause])).toEqual([
      ['system', 'entitlement.granted', 'payment'],
      ['stripe', 'entitlement.suspended', 'dispute'],
      ['stripe', 'entitlement.revoked', 'dispute'],
    ]);
    expect(audit[2]).toMatchObject({
      detail: { externalId: disputeId, previous: ['suspended'], status: 'revoked' },
    });
  });

  it('a forged download link is audited with a fingerprint, never the token', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [link] = await linksOf(stack, paymentIntentId);
    // A real link with its signature changed: what someone guessing at links would send.
    const token = link!.split('/').at(-1)!;
    const forged = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    const requestId = `audit-forged-${stripeTestId('rq')}`;
    const response = await stack.app.inject({
      method: 'GET',
      url: `/downloads/${forged}`,
      headers: { 'user-agent': 'audit-test', 'x-request-id': requestId },
    });
    expect(response.statusCode).toBe(404);
    const rows = await stack.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'target', 'detail', 'request_id'])
      .where('action', '=', 'download.forged')
      .where('request_id', '=', requestId)
      .execute();
    expect(rows).toEqual([
      {
        actor: 'buyer',
        action: 'download.forged',
        target: null,
        request_id: requestId,
        detail: {
          tokenSha256: expect.stringMatching(/^[0-9a-f]{16}$/) as unknown,
          tokenLength: forged.length,
          ip: expect.any(String) as unknown,
          userAgent: 'audit-test',
        },
      },
    ]);
    expect(JSON.stringify(rows)).not.toContain(forged);
    expect(JSON.stringify(rows)).not.toContain(token.slice(0, 20));
  });
});

describe('reading the audit log', () => {
  interface Page {
    items: { id: string; action: string; actor: string; target: string | null }[];
    next: string | null;
  }

  it('npm run ops -- audit list: by order, action and actor, newest first, paginated', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [link] = await linksOf(stack, paymentIntentId);
    expect((await click(link!)).statusCode).toBe(302);
    const byOrder = jsonOf<Page>(
      await ops(['audit', 'list', '--order', paymentIntentId, '--json']),
    );
    expect(byOrder.items.map((r) => r.action)).toEqual(['download.issued', 'entitlement.granted']);
    const firstPage = jsonOf<Page>(
      await ops(['audit', 'list', '--order', paymentIntentId, '--limit', '1', '--json']),
    );
    expect(firstPage.items.map((r) => r.action)).toEqual(['download.issued']);
    expect(firstPage.next).toBe(firstPage.items[0]!.id);
    const secondPage = jsonOf<Page>(
      await ops([
        'audit',
        'list',
        '--order',
        paymentIntentId,
        '--before',
        firstPage.next!,
        '--json',
      ]),
    );
    expect(secondPage.items.map((r) => r.action)).toEqual(['entitlement.granted']);
    const issued = jsonOf<Page>(
      await ops([
        'audit',
        'list',
        '--action',
        'download.issued',
        '--actor',
        'buyer',
        '--since',
        new Date(Date.now() - 60_000).toISOString(),
        '--limit',
        '500',
        '--json',
      ]),
    );
    expect(issued.items.every((r) => r.action === 'download.issued' && r.actor === 'buyer')).toBe(
      true,
    );
    expect(issued.items.length).toBeGreaterThan(0);
    const table = await ops(['audit', 'list', '--order', paymentIntentId]);
    expect(table.stdout).toMatch(/^id\s+at\s+actor\s+action\s+target/);
    const bad = await ops(['audit', 'list', '--action', 'entitlement.teleported']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('action: one of webhook.received');
    const missing = await ops(['audit', 'list', '--order', 'pi_nothing_here']);
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr.trim()).toBe('no order matches pi_nothing_here');
    // Each command is a process of its own: seven of them on a busy two-core machine.
  }, 240_000);

  it('GET /admin/audit answers the same, and 400 naming a bad filter', async () => {
    const { paymentIntentId } = await purchase(stack);
    const get = (query: string) =>
      stack.app.inject({
        method: 'GET',
        url: `/admin/audit?${query}`,
        headers: { authorization: `Bearer ${operators.support.token}` },
      });
    const page = await get(`order=${paymentIntentId}`);
    expect(page.statusCode).toBe(200);
    expect(page.json<Page>().items.map((r) => r.action)).toEqual(['entitlement.granted']);
    const bad = await get('action=nope');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toContain('action');
    expect((await get('order=pi_nothing_here')).statusCode).toBe(404);
  });
});
