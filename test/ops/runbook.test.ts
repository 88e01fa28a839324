import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDownloadToken } from '../../security/download-links.ts';
import { OPERATIONS } from '../../api/openapi.ts';
import { ingestStripeEvent } from '../../gateway/ingest.ts';
import type { JobTimeline } from '../../support/jobs.ts';
import { waitFor } from '../../stack/processes.ts';
import { createStorage } from '../../scripts/lib/services.ts';
import { buildChargeRefundedEvent, stripeTestId } from '../../stack/stripe-events.ts';
import { refundWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startResendStandIn } from '../../stack/resend-stand-in.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';
import {
  auditOf,
  jsonOf,
  linksOf,
  OPERATOR_TOKENS,
  operators,
  ops,
  purchase,
  waitForEmails,
} from './support.ts';

const RUNBOOK = await readFile(new URL('../../docs/RUNBOOK.md', import.meta.url), 'utf8');

/** The fenced blocks of one language in the runbook, line by line. */
function fencedLines(language: string): string[] {
  return [...RUNBOOK.matchAll(new RegExp('```' + language + '\\n([\\s\\S]*?)```', 'g'))].flatMap(
    (m) => m[1]!.split('\n').filter((line) => line.trim().length > 0),
  );
}

let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack({ env: { OPERATOR_TOKENS } });
  dir = await mkdtemp(path.join(os.tmpdir(), 'runbook-'));
});
afterAll(async () => {
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

const as = ['--operator', 'dana', '--reason', 'runbook drill'];
const adminCall = (url: string, payload: object, token: string = operators.admin.token) =>
  stack.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${token}` },
    payload,
  });
const click = (url: string) => stack.app.inject({ method: 'GET', url });
const show = async (ref: string) => jsonOf<JobTimeline>(await ops(['jobs', 'show', ref, '--json']));
const events = (timeline: JobTimeline) => timeline.timeline.map((e) => `${e.source}:${e.event}`);

async function importCatalogFile(suffix: string, keys: 'present' | 'absent') {
  const product = {
    sku: `ebook-runbook-${suffix}`,
    slug: `runbook-${suffix}`,
    title: 'The Runbook',
    version: 'v1',
    formats: ['pdf'],
    stripe_price_id: `price_runbook_${suffix}`,
  };
  const key = `ebooks/runbook-${suffix}/v1/file.pdf`;
  if (keys === 'present') await createStorage(stack.config).put(key, new TextEncoder().encode(key));
  const file = path.join(dir, `catalog-${suffix}.json`);
  await writeFile(file, JSON.stringify({ products: [product] }));
  return { sku: product.sku, key, file };
}

describe('docs/RUNBOOK.md', () => {
  it('has a procedure for every case support and platform engineers run into', () => {
    const headings = [...RUNBOOK.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(
      expect.arrayContaining([
        'Resend download link',
        'Account claim assistance',
        'Missing receipt',
        'Failed download',
        'Refund',
        'Mission-unlock issue',
        'Email outage',
        'Storage outage',
        'Data integrity',
        'Payment succeeded but no access',
        'Webhook downtime',
        'Expired link',
      ]),
    );
  });

  it('names only CLI commands and options the CLI has', async () => {
    const usage = (await ops(['help'])).stdout.split('\n').map((line) => line.trim());
    const commands = fencedLines('sh').filter((line) => line.startsWith('npm run ops -- '));
    expect(commands.length).toBeGreaterThan(20);
    for (const command of commands) {
      const words = command.slice('npm run ops -- '.length).split(/\s+/);
      const [name, sub] = words;
      const lines = usage.filter((line) => line.startsWith(`${name} `) || line === name);
      expect(lines, command).not.toEqual([]);
      if (sub && /^[a-z][a-z-]+$/.test(sub) && lines.some((l) => /^\S+ [a-z]/.test(l))) {
        expect(
          lines.some((line) => line.startsWith(`${name} ${sub}`)),
          command,
        ).toBe(true);
      }
      for (const option of words.filter((w) => w.startsWith('--'))) {
        expect(lines.join(' '), `${command}: ${option}`).toContain(option);
      }
    }
  });

  it('names only admin routes the api serves and /docs documents', () => {
    const calls = [...RUNBOOK.matchAll(/`(GET|POST) (\/admin\/[^`?\s]*)/g)].map(
      (m) => `${m[1]} ${m[2]}`,
    );
    expect(calls.length).toBeGreaterThan(8);
    const documented = OPERATIONS.map((op) => `${op.method.toUpperCase()} ${op.path}`);
    for (const call of calls) {
      expect(stack.app.registeredRoutes, call).toContain(call);
      expect(documented, call).toContain(call);
    }
  });

  it('names only Temporal queries the server accepts', async () => {
    const queries = fencedLines('temporal-query');
    expect(queries.length).toBeGreaterThan(4);
    for (const query of queries) {
      // An invalid query (unknown attribute, bad syntax) is rejected by the server here.
      await expect(stack.temporal.workflow.count(query), query).resolves.toBeDefined();
    }
  });
});

describe('runbook procedures', () => {
  it('resend download link: one audited command, one email with working links', async () => {
    const { paymentIntentId } = await purchase(stack);
    const result = await ops(['resend', paymentIntentId, ...as]);
    expect(result.code).toBe(0);
    await waitForEmails(stack, paymentIntentId, 'resend', 1);
    const [link] = await linksOf(stack, paymentIntentId, 'resend');
    expect((await click(link!)).statusCode).toBe(302);
    expect(events(await show(paymentIntentId))).toContain('email:resend sent');
    const order = (await purchaseRows(stack.db, paymentIntentId)).orders[0]!;
    expect(await auditOf(stack, order.id)).toMatchObject([
      { actor: 'dana', action: 'links.resent', reason: 'runbook drill' },
    ]);
  });

  it('expired link: the old link says expired, a support resend sends links that work', async () => {
    const { paymentIntentId } = await purchase(stack);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    const expired = createDownloadToken(
      {
        entitlementId: rows.entitlements[0]!.id,
        format: 'pdf',
        expiresAt: new Date(Date.now() - 1000),
      },
      stack.config.DOWNLOAD_TOKEN_SECRETS!,
    );
    expect((await click(`/downloads/${expired}`)).statusCode).toBe(410);
    const resend = await adminCall(
      `/admin/entitlements/${rows.entitlements[0]!.id}/resend`,
      { reason: 'link expired' },
      operators.support.token,
    );
    expect(resend.statusCode).toBe(202);
    await waitForEmails(stack, paymentIntentId, 'resend', 1);
    const [link] = await linksOf(stack, paymentIntentId, 'resend');
    expect((await click(link!)).statusCode).toBe(302);
  });

  it('account claim assistance: see the claim state, move the purchase to the buyer’s account', async () => {
    const { paymentIntentId } = await purchase(stack);
    const before = await show(paymentIntentId);
    expect(before.customerStatus).toBe('pending_claim');
    expect(events(before)).toContain('claim:claim link issued');

    const account = `account-${randomBytes(4).toString('hex')}@example.com`;
    const [grant] = jsonOf<{ purchaseKey: string }[]>(
      await ops([
        'entitlements',
        'grant',
        '--email',
        account,
        '--user-id',
        `auth0|${randomBytes(4).toString('hex')}`,
        '--sku',
        'ebook-durable-execution',
        ...as,
        '--json',
      ]),
    );
    await settledFulfillment(stack.temporal, grant!.purchaseKey);
    const granted = await show(grant!.purchaseKey);
    expect(granted).toMatchObject({
      customerStatus: 'active',
      entitlements: [{ status: 'active' }],
    });
    const moved = await ops(['entitlements', 'revoke', paymentIntentId, '--no-email', ...as]);
    expect(moved.code).toBe(0);
    expect((await show(paymentIntentId)).entitlements).toMatchObject([{ status: 'revoked' }]);
    // The buyer keeps the products under the account: no cancellation email is owed.
    expect(moved.stdout).toContain('none');
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.emails.map((e) => e.kind)).toEqual(['delivery']);
  });

  it('missing receipt: find the buyer, see the delivery status, find the runs in Temporal, resend', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const found = jsonOf<{ items: { paymentIntentId: string }[] }>(
      await ops(['jobs', 'search', '--email', email, '--json']),
    );
    expect(found.items.map((i) => i.paymentIntentId)).toEqual([paymentIntentId]);
    expect(events(await show(paymentIntentId))).toContain('email:delivery sent');

    const { query } = jsonOf<{ query: string }>(
      await ops(['temporal-query', '--email', email, '--json']),
    );
    const ids: string[] = [];
    for await (const run of stack.temporal.workflow.list({ query })) ids.push(run.workflowId);
    expect(ids).toContain(`fulfillment-${paymentIntentId}`);

    expect((await ops(['resend', paymentIntentId, ...as])).code).toBe(0);
    await waitForEmails(stack, paymentIntentId, 'resend', 1);
  });

  it('failed download: the timeline shows the refused click; a mistaken revocation is restored', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [link] = await linksOf(stack, paymentIntentId);
    const revoked = await adminCall(`/admin/entitlements/${paymentIntentId}/revoke`, {
      reason: 'suspected fraud',
    });
    expect(revoked.statusCode).toBe(200);
    expect((await click(link!)).statusCode).toBe(403);
    expect(events(await show(paymentIntentId))).toEqual(
      expect.arrayContaining(['download:pdf revoked', 'audit:entitlement.revoked']),
    );
    expect((await ops(['entitlements', 'restore', paymentIntentId, ...as])).code).toBe(0);
    expect((await click(link!)).statusCode).toBe(302);
  });

  it('refund: the webhook revokes, the timeline shows it, resend and restore are refused', async () => {
    const { paymentIntentId } = await purchase(stack);
    const refund = buildChargeRefundedEvent({ paymentIntentId, amountRefunded: 2900 });
    expect((await postSignedEvent(stack.app, refund, stack.webhookSecret)).statusCode).toBe(200);
    const refundId = (refund.data.object as { refunds: { data: { id: string }[] } }).refunds
      .data[0]!.id;
    await stack.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();
    await waitForEmails(stack, paymentIntentId, 'cancellation', 1);
    const timeline = await show(paymentIntentId);
    expect(timeline.status).toBe('revoked');
    expect(events(timeline)).toEqual(
      expect.arrayContaining([
        'webhook:charge.refunded',
        'entitlement:refund succeeded',
        'job:revoked',
      ]),
    );
    const resend = await ops(['resend', paymentIntentId, ...as]);
    expect(resend).toMatchObject({ code: 1 });
    expect(resend.stderr).toContain('nothing to resend: access is revoked');
    const restore = await ops(['entitlements', 'restore', paymentIntentId, ...as]);
    expect(restore.code).toBe(1);
    expect(restore.stderr).toContain(
      'access stays revoked: a full refund or a dispute is recorded',
    );
  });

  it('mission-unlock issue: an admin grant delivers the product like a reward', async () => {
    const email = `player-${randomBytes(4).toString('hex')}@example.com`;
    const response = await adminCall('/admin/entitlements', {
      email,
      skus: ['course-webhooks-workbook'],
      kind: 'mission',
      mission_id: 'mission-42',
      reason: 'mission 42 unlock missing',
    });
    expect(response.statusCode).toBe(202);
    const { purchaseKey } = response.json<{ purchaseKey: string }>();
    await settledFulfillment(stack.temporal, purchaseKey);
    const rows = await purchaseRows(stack.db, purchaseKey);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['pending_claim']);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', recipient: email }]);
    const reward = await stack.db
      .selectFrom('rewards')
      .selectAll()
      .where('reward_id', '=', purchaseKey.slice('reward-'.length))
      .executeTakeFirstOrThrow();
    expect(reward).toMatchObject({
      kind: 'mission',
      mission_id: 'mission-42',
      granted_by: 'operator:alice',
    });
  });

  it('email outage: the drill shows the fallback taking over and delivering every message', async () => {
    const standIn = await startResendStandIn();
    const sink = await startSmtpSink();
    try {
      const drill = jsonOf<{ sent_by: Record<string, number> }[]>(
        await ops(['email', 'drill', '--messages', '2', '--to', 'ops@example.com', '--json'], {
          EMAIL_DRIVER: 'resend',
          RESEND_API_KEY: 're_drill_key',
          RESEND_API_URL: standIn.url,
          EMAIL_FALLBACK_DRIVER: 'smtp',
          SMTP_URL: sink.url,
          EMAIL_FAILOVER_THRESHOLD: '1',
        }),
      );
      expect(drill[0]!.sent_by).toMatchObject({ smtp: 2 });
      expect(sink.received.filter((m) => m.to.includes('ops@example.com'))).toHaveLength(2);
    } finally {
      await standIn.close();
      await sink.close();
    }
  });

  it('storage outage: the job waits in pending_retry naming the file; once back, a retry completes it', async () => {
    const suffix = randomBytes(4).toString('hex');
    const { sku, key, file } = await importCatalogFile(suffix, 'present');
    expect((await ops(['catalog', 'import', file, ...as])).code).toBe(0);
    // The outage: the file is gone from storage.
    await rm(path.join(stack.config.STORAGE_LOCAL_DIR, key));
    const paymentIntentId = stripeTestId('pi');
    await postSignedEvent(
      stack.app,
      paymentSucceeded({ paymentIntentId, email: `${paymentIntentId}@example.com`, skus: [sku] }),
      stack.webhookSecret,
    );
    await waitFor(
      'job pending_retry',
      async () =>
        (await purchaseRows(stack.db, paymentIntentId)).jobs[0]?.status === 'pending_retry',
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const waiting = jsonOf<{ items: { paymentIntentId: string; lastError: string }[] }>(
      await ops([
        'jobs',
        'search',
        '--status',
        'pending_retry',
        '--payment-intent',
        paymentIntentId,
        '--json',
      ]),
    );
    expect(waiting.items[0]!.lastError).toContain(key);

    await createStorage(stack.config).put(key, new TextEncoder().encode('back'));
    const [retried] = jsonOf<{ action: string }[]>(
      await ops(['jobs', 'retry', paymentIntentId, '--restart', ...as, '--json']),
    );
    expect(retried).toMatchObject({ action: 'restarted' });
    await settledFulfillment(stack.temporal, paymentIntentId);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.jobs[0]!.status).toBe('completed');
    expect(rows.emails.map((e) => e.kind)).toEqual(['delivery']);
  });

  it('data integrity: catalog dry run and reconciliation from the admin API, both recorded', async () => {
    const suffix = randomBytes(4).toString('hex');
    const { file } = await importCatalogFile(suffix, 'absent');
    const dry = await ops(['catalog', 'import', file, '--dry-run', ...as]);
    expect(dry.code).toBe(1);
    expect(dry.stderr).toContain(`ebooks/runbook-${suffix}/v1/file.pdf is missing from storage`);

    const run = await adminCall('/admin/reconciliation-runs', {
      date: '2026-01-02',
      reason: 'monthly integrity check',
    });
    expect(run.statusCode).toBe(201);
    const stored = run.json<{ id: string; actor: string }>();
    expect(stored.actor).toBe('alice');
    const list = await stack.app.inject({
      method: 'GET',
      url: '/admin/reconciliation-runs',
      headers: { authorization: `Bearer ${operators.support.token}` },
    });
    expect(list.json<{ items: { id: string }[] }>().items.map((r) => r.id)).toContain(stored.id);
    expect(await auditOf(stack, stored.id)).toMatchObject([
      { actor: 'alice', action: 'reconciliation.run', reason: 'monthly integrity check' },
    ]);
  });

  it('payment succeeded but no access: an unknown SKU is fixed by a catalog import and a retry', async () => {
    const suffix = randomBytes(4).toString('hex');
    const { sku, file } = await importCatalogFile(suffix, 'present');
    const { paymentIntentId } = await purchase(stack, [sku]);
    const found = jsonOf<{ items: { status: string; lastError: string }[] }>(
      await ops(['jobs', 'search', '--payment-intent', paymentIntentId, '--json']),
    );
    expect(found.items[0]).toMatchObject({ status: 'needs_attention' });
    expect((await ops(['catalog', 'import', file, ...as])).code).toBe(0);
    const [retried] = jsonOf<{ action: string }[]>(
      await ops(['jobs', 'retry', paymentIntentId, ...as, '--json']),
    );
    expect(retried).toMatchObject({ action: 'started' });
    await settledFulfillment(stack.temporal, paymentIntentId);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['pending_claim']);
    expect(rows.emails.map((e) => e.kind)).toEqual(['delivery']);
  });

  it('webhook downtime: an event recorded while Temporal was away is listed and replayed', async () => {
    const paymentIntentId = stripeTestId('pi');
    const event = paymentSucceeded({ paymentIntentId, email: `${paymentIntentId}@example.com` });
    // Temporal refuses every start (a namespace it does not have), as during an outage: the
    // gateway records the event and leaves it undispatched.
    const unavailable = new Client({
      connection: stack.temporal.connection,
      namespace: `down-${randomBytes(4).toString('hex')}`,
    });
    const outcome = await ingestStripeEvent(
      { db: stack.db, temporal: unavailable },
      event,
      JSON.stringify(event),
      { actor: 'stripe' },
    );
    expect(outcome).toMatchObject({ inserted: true, result: null });

    const pending = jsonOf<{ event_id: string }[]>(
      await ops(['events', 'list', '--status', 'pending', '--limit', '500', '--json']),
    );
    expect(pending.map((e) => e.event_id)).toContain(event.id);
    const replayed = await ops([
      'events',
      'replay',
      event.id,
      '--operator',
      'dana',
      '--reason',
      'incident 12: Temporal was down',
      '--json',
    ]);
    expect(replayed.code).toBe(0);
    await settledFulfillment(stack.temporal, paymentIntentId);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.emails.map((e) => e.kind)).toEqual(['delivery']);
    expect(await auditOf(stack, event.id)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          actor: 'dana',
          action: 'webhook.replayed',
          reason: 'incident 12: Temporal was down',
        }),
      ]),
    );
  });
});
