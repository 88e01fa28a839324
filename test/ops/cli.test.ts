import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DsarReport } from '../../support/dsar.ts';
import type { JobTimeline } from '../../support/jobs.ts';
import { createStorage } from '../../scripts/lib/services.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { auditOf, jsonOf, linksOf, ops, purchase, waitForEmails } from './support.ts';

let stack: TestStack;
let dir: string;
beforeAll(async () => {
  stack = await startTestStack();
  dir = await mkdtemp(path.join(os.tmpdir(), 'ops-cli-'));
});
afterAll(async () => {
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

const as = ['--operator', 'carol', '--reason', 'ticket 4711'];

describe('npm run ops -- jobs', () => {
  it('searches by email and payment intent, as a table and as JSON', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const table = await ops(['jobs', 'search', '--email', email]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^job\s+status\s+purchase\s+email/);
    expect(table.stdout).toContain(paymentIntentId);
    expect(table.stdout).toContain('completed');

    const page = jsonOf<{ items: { paymentIntentId: string }[]; hasMore: boolean }>(
      await ops(['jobs', 'search', '--payment-intent', paymentIntentId, '--json']),
    );
    expect(page).toMatchObject({ items: [{ paymentIntentId }], hasMore: false });
    const bad = await ops(['jobs', 'search', '--status', 'lost']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('status: one of pending_storage');
  });

  it('shows one timeline with the Temporal UI deep link', async () => {
    const { paymentIntentId } = await purchase(stack);
    const shown = await ops(['jobs', 'show', paymentIntentId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(
      `Temporal UI: http://localhost:8233/namespaces/default/workflows/fulfillment-${paymentIntentId}`,
    );
    expect(shown.stdout).toMatch(/webhook\s+payment_intent\.succeeded/);
    expect(shown.stdout).toMatch(/email\s+delivery sent/);
    const timeline = jsonOf<JobTimeline>(await ops(['jobs', 'show', paymentIntentId, '--json']));
    expect(timeline.customerStatus).toBe('pending_claim');
    expect(timeline.timeline.map((e) => e.source)).toEqual(
      expect.arrayContaining(['webhook', 'job', 'email', 'claim']),
    );
    const missing = await ops(['jobs', 'show', 'pi_nothing_here']);
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr.trim()).toBe('no order, job or entitlement matches pi_nothing_here');
  });

  it('refuses a mutation without --operator and --reason (exit 2, nothing done)', async () => {
    const { paymentIntentId } = await purchase(stack);
    const refused = await ops(['jobs', 'retry', paymentIntentId]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('needs --operator NAME and --reason TEXT');
    const order = (await purchaseRows(stack.db, paymentIntentId)).orders[0]!;
    expect(await auditOf(stack, order.id)).toEqual([]);
  });

  it('retry leaves a running workflow alone, and --restart starts a fresh run', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [left] = jsonOf<{ action: string; message: string }[]>(
      await ops(['jobs', 'retry', paymentIntentId, ...as, '--json']),
    );
    expect(left).toMatchObject({ action: 'none' });
    expect(left!.message).toContain('the workflow is running (completed, reminding)');
    const [restarted] = jsonOf<{ action: string }[]>(
      await ops(['jobs', 'retry', paymentIntentId, ...as, '--restart', '--json']),
    );
    expect(restarted).toMatchObject({ action: 'restarted' });
    await settledFulfillment(stack.temporal, paymentIntentId);
    // Every step is idempotent: the new run sent no second receipt.
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.emails.map((e) => e.kind)).toEqual(['delivery']);
    expect(rows.jobs[0]!.status).toBe('completed');
    const audit = await auditOf(stack, rows.jobs[0]!.id);
    expect(audit.map((a) => [a.actor, a.action, a.reason])).toEqual([
      ['carol', 'job.retried', 'ticket 4711'],
      ['carol', 'job.retried', 'ticket 4711'],
    ]);
  });
});

describe('npm run ops -- resend / entitlements', () => {
  it('resends links, revokes and restores access, each audited', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [resent] = jsonOf<{ sequence: number }[]>(
      await ops(['resend', paymentIntentId, ...as, '--json']),
    );
    expect(resent).toMatchObject({ sequence: 1 });
    await waitForEmails(stack, paymentIntentId, 'resend', 1);
    const [link] = await linksOf(stack, paymentIntentId, 'resend');
    expect((await stack.app.inject({ method: 'GET', url: link! })).statusCode).toBe(302);

    const revoked = await ops(['entitlements', 'revoke', paymentIntentId, ...as]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/revoked/);
    expect((await stack.app.inject({ method: 'GET', url: link! })).statusCode).toBe(403);
    const refusedResend = await ops(['resend', paymentIntentId, ...as]);
    expect(refusedResend).toMatchObject({ code: 1 });
    expect(refusedResend.stderr).toContain('nothing to resend: access is revoked');

    const [restored] = jsonOf<{ status: string }[]>(
      await ops(['entitlements', 'restore', paymentIntentId, ...as, '--json']),
    );
    expect(restored).toMatchObject({ status: 'pending_claim' });
    expect((await stack.app.inject({ method: 'GET', url: link! })).statusCode).toBe(302);
    const order = (await purchaseRows(stack.db, paymentIntentId)).orders[0]!;
    expect((await auditOf(stack, order.id)).map((a) => a.action)).toEqual([
      'links.resent',
      'entitlement.revoked',
      'entitlement.restored',
    ]);
  });

  it('grants a mission unlock that did not arrive, to a signed-in user', async () => {
    const email = `mission-${randomBytes(4).toString('hex')}@example.com`;
    const [grant] = jsonOf<{ purchaseKey: string }[]>(
      await ops([
        'entitlements',
        'grant',
        '--email',
        email,
        '--sku',
        'course-webhooks-workbook',
        '--user-id',
        `auth0|${randomBytes(4).toString('hex')}`,
        '--kind',
        'mission',
        '--mission-id',
        'mission-42',
        ...as,
        '--json',
      ]),
    );
    await settledFulfillment(stack.temporal, grant!.purchaseKey);
    const rows = await purchaseRows(stack.db, grant!.purchaseKey);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['active']);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', recipient: email }]);
    expect(await auditOf(stack, grant!.purchaseKey)).toMatchObject([
      {
        actor: 'carol',
        action: 'entitlement.granted',
        reason: 'ticket 4711',
        detail: { missionId: 'mission-42' },
      },
    ]);
  });
});

describe('npm run ops -- dsar delete', () => {
  it('erases the person across tables, keeps anonymised orders, reports per table, and is idempotent', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const [link] = await linksOf(stack, paymentIntentId);
    await stack.app.inject({
      method: 'GET',
      url: link!,
      headers: { 'user-agent': 'dsar-browser/1.0' },
    });
    const rows = await purchaseRows(stack.db, paymentIntentId);
    const order = rows.orders[0]!;

    // Operators write addresses into their reasons; the deletion's own reason may name it too.
    expect(
      (
        await ops([
          'resend',
          paymentIntentId,
          '--operator',
          'carol',
          '--reason',
          `asked by ${email}`,
        ])
      ).code,
    ).toBe(0);
    const run = await ops([
      'dsar',
      'delete',
      '--email',
      email.toUpperCase(),
      '--operator',
      'carol',
      '--reason',
      `ticket 4711: erasure request from ${email}`,
    ]);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain('… webhook inbox');
    expect(run.stdout).toMatch(/customers\s+0\s+1\s+0\s+address and account link removed/);
    expect(run.stdout).toMatch(/orders\s+0\s+0\s+1\s+amounts/);

    const customer = await stack.db
      .selectFrom('customers')
      .selectAll()
      .where('id', '=', order.customer_id)
      .executeTakeFirstOrThrow();
    expect(customer.email).toBe(`deleted-${customer.id}@redacted.invalid`);
    const kept = await stack.db
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', order.id)
      .executeTakeFirstOrThrow();
    expect(kept).toMatchObject({
      amount_total: order.amount_total,
      payment_intent_id: paymentIntentId,
    });
    const emails = await stack.db
      .selectFrom('email_deliveries')
      .selectAll()
      .where('order_id', '=', order.id)
      .execute();
    expect(emails.every((e) => e.recipient === '[redacted]' && e.html === '[redacted]')).toBe(true);
    const downloads = await stack.db
      .selectFrom('download_events')
      .selectAll()
      .where('entitlement_id', '=', rows.entitlements[0]!.id)
      .execute();
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.every((d) => d.ip === null && d.user_agent === null)).toBe(true);
    const inbox = await stack.db
      .selectFrom('webhook_events')
      .select('payload')
      .where('workflow_id', '=', `fulfillment-${paymentIntentId}`)
      .execute();
    expect(inbox.length).toBeGreaterThan(0);
    expect(JSON.stringify(inbox).toLowerCase()).not.toContain(email);
    expect(
      await stack.db
        .selectFrom('claim_tokens')
        .select('id')
        .where('customer_id', '=', customer.id)
        .execute(),
    ).toEqual([]);
    const audit = await stack.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'dsar.deleted')
      .where('actor', '=', 'carol')
      .execute();
    expect(audit.length).toBeGreaterThan(0);
    // The subject is a keyed hash (the buyer's CustomerEmail value), not a plain SHA-256.
    expect(audit[0]!.target).toMatch(/^hmac1_[0-9a-f]{32}$/);
    const everyAuditRow = await stack.db
      .selectFrom('audit_log')
      .selectAll()
      .where('actor', '=', 'carol')
      .execute();
    expect(JSON.stringify(everyAuditRow).toLowerCase()).not.toContain(email);
    expect(everyAuditRow.map((row) => row.reason)).toEqual(
      expect.arrayContaining([
        'asked by [redacted]',
        'ticket 4711: erasure request from [redacted]',
      ]),
    );

    const again = jsonOf<DsarReport>(
      await ops(['dsar', 'delete', '--email', email, ...as, '--json']),
    );
    expect(again.customers).toBe(0);
    expect(again.tables.every((t) => t.deleted === 0 && t.redacted === 0)).toBe(true);
  });
});

describe('npm run ops -- catalog import', () => {
  it('reports every problem at once, then imports a valid file in one audited transaction', async () => {
    const suffix = randomBytes(4).toString('hex');
    const products = [
      {
        sku: `ebook-cli-${suffix}`,
        slug: `cli-${suffix}`,
        title: 'Runbooks as Code',
        version: 'v2',
        formats: ['pdf', 'epub'],
        stripe_price_id: `price_cli_${suffix}`,
      },
      {
        sku: `bonus-cli-${suffix}`,
        slug: `bonus-${suffix}`,
        title: 'Bonus Chapter',
        version: 'v1',
        formats: ['pdf'],
        purchasable: false,
      },
    ];
    const file = path.join(dir, `catalog-${suffix}.json`);
    await writeFile(
      file,
      JSON.stringify({
        products: [...products, { ...products[1], sku: `paid-${suffix}`, purchasable: true }],
      }),
    );
    const refused = await ops(['catalog', 'import', file, ...as]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('problem(s), nothing was imported');
    expect(refused.stderr).toContain(`ebooks/cli-${suffix}/v2/file.pdf is missing from storage`);
    expect(refused.stderr).toContain(`ebooks/cli-${suffix}/v2/file.epub is missing from storage`);
    expect(refused.stderr).toContain(`paid-${suffix}): stripe_price_id is required`);

    const storage = createStorage(stack.config);
    for (const key of [
      `ebooks/cli-${suffix}/v2/file.pdf`,
      `ebooks/cli-${suffix}/v2/file.epub`,
      `ebooks/bonus-${suffix}/v1/file.pdf`,
    ])
      await storage.put(key, new TextEncoder().encode(key));
    await writeFile(file, JSON.stringify({ products }));
    const dry = await ops(['catalog', 'import', file, ...as, '--dry-run']);
    expect(dry.stdout).toContain('dry run: nothing was written');
    expect(
      await stack.db
        .selectFrom('products')
        .select('sku')
        .where('sku', 'like', `%-cli-${suffix}`)
        .execute(),
    ).toEqual([]);
    const imported = await ops(['catalog', 'import', file, ...as]);
    expect(imported.code).toBe(0);
    expect(imported.stderr).toContain(`… checking ebooks/cli-${suffix}/v2/file.epub`);
    expect(imported.stdout).toMatch(
      new RegExp(`ebook-cli-${suffix}\\s+v2\\s+pdf,epub\\s+price_cli_${suffix}\\s+created`),
    );
    const rows = await stack.db
      .selectFrom('products')
      .selectAll()
      .where('sku', 'like', `%-cli-${suffix}`)
      .orderBy('sku')
      .execute();
    expect(rows).toMatchObject([
      { sku: `bonus-cli-${suffix}`, stripe_price_id: null },
      { sku: `ebook-cli-${suffix}`, version: 'v2', formats: ['pdf', 'epub'] },
    ]);
    const again = jsonOf<{ products: { change: string }[] }>(
      await ops(['catalog', 'import', file, ...as, '--json']),
    );
    expect(again.products.map((p) => p.change)).toEqual(['unchanged', 'unchanged']);
    expect(
      (
        await stack.db
          .selectFrom('audit_log')
          .selectAll()
          .where('action', '=', 'catalog.imported')
          .where('reason', '=', 'ticket 4711')
          .execute()
      ).map((a) => a.detail),
    ).toContainEqual(
      expect.objectContaining({ created: [`ebook-cli-${suffix}`, `bonus-cli-${suffix}`] }),
    );
  });
});
