// The console's support procedures in a real browser, each with a reason and a confirmation and
// the same support/ operation as the CLI and the admin API: a fresh claim link, a temporary
// download link, a storage check, the alerts page, an account merge and a DSAR erasure. Each
// test asserts what the agent sees and the rows it leaves (audited as the agent).
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert } from '../../support/alerts.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import type { TestStack } from '../helpers/stack.ts';
import { auditOf, purchase, waitForEmails } from '../ops/support.ts';
import {
  openPurchase,
  SCREENSHOTS,
  signIn,
  startConsoleHarness,
  users,
  type ConsoleHarness,
} from './harness.ts';

let harness: ConsoleHarness;
let stack: TestStack;
beforeAll(async () => {
  harness = await startConsoleHarness();
  ({ stack } = harness);
});
afterAll(async () => {
  await harness?.close();
});

/** Fills an action's reason, reviews it and confirms it; answers the confirmation page's text. */
async function perform(page: Page, label: string, reason: string): Promise<string> {
  const form = page.getByRole('form', { name: label });
  await form.getByLabel('Reason (recorded in the audit log)').fill(reason);
  await form.getByRole('button', { name: /^Review/ }).click();
  const lower = label.charAt(0).toLowerCase() + label.slice(1);
  await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
    `Confirm: ${lower}`,
  );
  const confirmation = (await page.locator('main').textContent()) ?? '';
  await page.getByRole('button', { name: `Confirm: ${lower}` }).click();
  return confirmation;
}

/** The trimmed cells of a table's body rows, by the table's caption. */
async function cellsOf(page: Page, caption: string): Promise<string[][]> {
  const rows = await page.getByRole('table', { name: caption }).locator('tbody tr').all();
  return Promise.all(
    rows.map(async (row) => (await row.locator('td').allTextContents()).map((cell) => cell.trim())),
  );
}

describe('support console: support procedures', () => {
  it('lets support send a guest a fresh claim link: the older link dies, audited as the agent', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const { context, page } = await signIn(harness, users.support);
    await openPurchase(harness, page, email, paymentIntentId);

    const confirmation = await perform(
      page,
      'Send a fresh claim link',
      'ticket 7001: claim email lost',
    );
    expect(confirmation).toContain('support@example.test (support)');
    expect(await page.getByRole('status').textContent()).toContain(
      `Claim link 1 emailed to ${email}; 1 older claim link(s) stopped working.`,
    );
    expect(await page.getByRole('row', { name: /claim_link\.reissued/ }).textContent()).toContain(
      'actor: support@example.test',
    );

    await waitForEmails(stack, paymentIntentId, 'claim_link', 1);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    const tokens = await stack.db
      .selectFrom('claim_tokens')
      .select(['expires_at', 'used_at'])
      .where('customer_id', '=', rows.orders[0]!.customer_id)
      .orderBy('created_at')
      .execute();
    // The receipt's link expired with the reissue; the new one is the only one that works.
    expect(tokens).toHaveLength(2);
    expect(tokens.map((t) => t.expires_at.getTime() > Date.now())).toEqual([false, true]);
    expect(
      (await auditOf(stack, rows.orders[0]!.id)).map((a) => [a.action, a.actor, a.reason]),
    ).toEqual([['claim_link.reissued', 'support@example.test', 'ticket 7001: claim email lost']]);
    await context.close();
  });

  it('lets support create a temporary download link, shown once, that downloads until it is withdrawn', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const { context, page } = await signIn(harness, users.support);
    await openPurchase(harness, page, email, paymentIntentId);
    const [entitlement] = (await purchaseRows(stack.db, paymentIntentId)).entitlements;

    const form = page.getByRole('form', { name: 'Create a temporary download link' });
    expect(await form.getByLabel('Expires after (hours)').inputValue()).toBe('24');
    await form.getByLabel('Expires after (hours)').fill('48');
    const before = Date.now();
    const confirmation = await perform(
      page,
      'Create a temporary download link',
      'ticket 7002: mailbox blocks us',
    );
    expect(confirmation).toMatch(/Expires after \(hours\)\s*48/);
    expect(confirmation).toContain('Durable Execution');

    expect(await page.getByRole('status').textContent()).toContain('expires after 48 hour(s).');
    expect(await page.locator('main').textContent()).toContain('Shown this once');
    const urls = await page
      .getByRole('table', { name: 'Download links, one per format' })
      .locator('code')
      .allTextContents();
    expect(urls).toHaveLength(2);
    for (const url of urls) expect(url).toMatch(/\/downloads\/[A-Za-z0-9_-]{51}$/);
    // The buyer's click: the download route, then the file.
    const download = await context.request.get(urls[0]!);
    expect(download.status()).toBe(200);
    expect(download.headers()['content-disposition']).toContain('durable-execution-v1.pdf');

    // Once: the purchase page records the link (audit row) but never shows its URL again.
    await page.getByRole('link', { name: /Back to purchase/ }).click();
    const text = (await page.locator('main').textContent()) ?? '';
    expect(text).toContain('download_link.issued');
    for (const url of urls) expect(text).not.toContain(url);

    const [link] = await stack.db
      .selectFrom('temporary_download_links')
      .selectAll()
      .where('entitlement_id', '=', entitlement!.id)
      .execute();
    expect(link).toMatchObject({ created_by: 'support@example.test', revoked_at: null });
    const hours = (link!.expires_at.getTime() - before) / 3_600_000;
    expect(hours).toBeGreaterThan(47.9);
    expect(hours).toBeLessThan(48.1);

    // The buyer has the file: support withdraws the link, and its next click is refused.
    const withdraw = page.getByRole('form', { name: 'Withdraw a temporary download link' });
    expect(await withdraw.getByLabel('Link').locator('option').allTextContents()).toEqual([
      expect.stringContaining(`by support@example.test, expires`),
    ]);
    await perform(page, 'Withdraw a temporary download link', 'ticket 7002: buyer has it');
    expect(await page.getByRole('status').textContent()).toContain(
      `Temporary link ${link!.id} withdrawn`,
    );
    expect((await context.request.get(urls[1]!)).status()).toBe(410);
    expect(await page.getByRole('button', { name: /^Review/ }).allTextContents()).not.toContain(
      'Review: withdraw a temporary download link…',
    );
    await expect(
      stack.db
        .selectFrom('temporary_download_links')
        .select('revoked_by')
        .where('id', '=', link!.id)
        .executeTakeFirstOrThrow(),
    ).resolves.toEqual({ revoked_by: 'support@example.test' });
    const audit = (await auditOf(stack, entitlement!.id)).filter((a) => a.actor !== 'system');
    expect(audit.map((a) => [a.action, a.actor, a.reason])).toEqual([
      ['download_link.issued', 'support@example.test', 'ticket 7002: mailbox blocks us'],
      ['download.issued', 'buyer', null],
      ['download_link.revoked', 'support@example.test', 'ticket 7002: buyer has it'],
      ['download.denied', 'buyer', null],
    ]);
    await context.close();
  });

  it('lets support check a product’s files and shows what storage and a test download answered', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const { context, page } = await signIn(harness, users.support);
    await openPurchase(harness, page, email, paymentIntentId);
    const [entitlement] = (await purchaseRows(stack.db, paymentIntentId)).entitlements;

    await perform(page, 'Check a product’s files', 'ticket 7003: download fails');
    expect(await page.getByRole('status').textContent()).toContain(
      '2 of 2 file(s) in storage and downloadable.',
    );
    const files = await cellsOf(page, 'Storage check');
    expect(files).toEqual(
      ['pdf', 'epub'].map((format): unknown[] => [
        format.toUpperCase(),
        `ebooks/durable-execution/v1/file.${format}`,
        'yes',
        'HTTP 200',
        expect.stringMatching(/^[1-9]\d*$/),
      ]),
    );

    const audit = await auditOf(stack, entitlement!.id);
    expect(
      audit.filter((a) => a.action === 'storage.checked').map((a) => [a.actor, a.reason]),
    ).toEqual([['support@example.test', 'ticket 7003: download fails']]);
    // The test download's link lived only for the check.
    const links = await stack.db
      .selectFrom('temporary_download_links')
      .select(['revoked_by'])
      .where('entitlement_id', '=', entitlement!.id)
      .execute();
    expect(links).toEqual([{ revoked_by: 'support@example.test' }]);
    await page.getByRole('link', { name: /Back to purchase/ }).click();
    expect(await page.getByRole('button', { name: /^Review/ }).allTextContents()).not.toContain(
      'Review: withdraw a temporary download link…',
    );
    await context.close();
  });

  it('lists open alerts and lets support acknowledge, then resolve one with a reason', async () => {
    const key = `console-test-${randomBytes(4).toString('hex')}`;
    const summary = `Job stuck in pending_email for 7 minutes (${key})`;
    expect(
      await raiseAlert(stack.db, {}, { key, kind: 'stuck_job', severity: 'warning', summary }),
    ).toBe(true);
    const { id } = await stack.db
      .selectFrom('alerts')
      .select('id')
      .where('alert_key', '=', key)
      .executeTakeFirstOrThrow();
    const { context, page } = await signIn(harness, users.support);
    await page
      .getByRole('navigation', { name: 'Console' })
      .getByRole('link', { name: 'Alerts' })
      .click();
    const row = page.getByRole('row', { name: new RegExp(key) });
    expect(await row.textContent()).toContain('open');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'alerts.png'), fullPage: true });
    await row.getByRole('link', { name: `Open alert ${id}` }).click();
    expect(await page.getByRole('button', { name: /^Review/ }).allTextContents()).toEqual([
      'Review: acknowledge the alert…',
      'Review: resolve the alert…',
    ]);

    const confirmation = await perform(page, 'Acknowledge the alert', 'on it: queue drained');
    expect(confirmation).toContain(summary);
    expect(await page.getByRole('status').textContent()).toContain(`Alert ${id} acknowledged`);
    expect(await page.getByRole('region', { name: 'Summary' }).textContent()).toMatch(
      /Acknowledged.*by support@example\.test/,
    );
    await expect(
      stack.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    ).resolves.toMatchObject({ status: 'acknowledged', acknowledged_by: 'support@example.test' });
    // Acknowledged, it leaves the open list.
    await page.goto(`${harness.base}/console/alerts`);
    expect(await page.locator('main').textContent()).not.toContain(key);

    await page.goto(`${harness.base}/console/alerts/${id}`);
    await perform(page, 'Resolve the alert', 'fixed: SMTP relay back');
    expect(await page.getByRole('status').textContent()).toContain(`Alert ${id} resolved`);
    expect(await page.getByRole('button', { name: /^Review/ }).count()).toBe(0);
    await expect(
      stack.db.selectFrom('alerts').selectAll().where('id', '=', id).executeTakeFirstOrThrow(),
    ).resolves.toMatchObject({ status: 'resolved', resolved_by: 'support@example.test' });
    expect((await auditOf(stack, `alert:${id}`)).map((a) => [a.action, a.actor, a.reason])).toEqual(
      [
        ['alert.acknowledged', 'support@example.test', 'on it: queue drained'],
        ['alert.resolved', 'support@example.test', 'fixed: SMTP relay back'],
      ],
    );
    await context.close();
  });
});

describe('support console: admin procedures', () => {
  it('lets an admin move a guest’s purchases to another email with two verified data points', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const target = `moved-${randomBytes(4).toString('hex')}@example.com`;
    const { context, page } = await signIn(harness, users.admin);
    await openPurchase(harness, page, email, paymentIntentId);

    const form = page.getByRole('form', { name: 'Move purchases to another email' });
    await form.getByLabel('Move to (email address or customer id)').fill(target);
    await form.getByLabel('Payment intent the buyer quotes (pi_…)').fill(paymentIntentId);
    await form.getByLabel('Reason (recorded in the audit log)').fill('ticket 7005: new address');
    // One data point is not enough: the form says so before any confirmation.
    await form.getByRole('button', { name: /^Review/ }).click();
    expect(
      await page
        .getByRole('form', { name: 'Move purchases to another email' })
        .getByRole('alert')
        .textContent(),
    ).toContain('at least 2 data points of different kinds');
    await form.getByLabel('Card’s last four digits').fill('4242');
    const confirmation = await perform(
      page,
      'Move purchases to another email',
      'ticket 7005: new address',
    );
    expect(confirmation).toContain(target);
    expect(confirmation).toMatch(/Card’s last four digits\s*4242/);
    expect(await page.getByRole('status').textContent()).toContain(
      `Moved 1 purchase(s) and 1 product(s) to ${target} (a new guest profile); verified: payment_intent (matched), last4 (attested)`,
    );
    expect(await page.getByRole('region', { name: 'Summary' }).textContent()).toContain(target);

    const rows = await purchaseRows(stack.db, paymentIntentId);
    const owner = await stack.db
      .selectFrom('customers')
      .select(['email', 'id'])
      .where('id', '=', rows.orders[0]!.customer_id)
      .executeTakeFirstOrThrow();
    expect(owner.email).toBe(target);
    const merge = await stack.db
      .selectFrom('customer_merges')
      .selectAll()
      .where('to_customer_id', '=', owner.id)
      .executeTakeFirstOrThrow();
    expect(merge).toMatchObject({
      operator: 'admin@example.test',
      reason: 'ticket 7005: new address',
    });
    expect((await auditOf(stack, merge.from_customer_id)).map((a) => [a.action, a.actor])).toEqual([
      ['customer.merged', 'admin@example.test'],
    ]);
    await context.close();
  });

  it('lets only an admin erase a buyer’s data, after typing the address, and shows the step report', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    // Support cannot, even with a forged form.
    const asSupport = await signIn(harness, users.support);
    await asSupport.page.goto(`${harness.base}/console/purchases/${paymentIntentId}`);
    const csrf = await asSupport.page.locator('input[name=_csrf]').first().inputValue();
    const forged = await asSupport.context.request.post(
      `${harness.base}/console/purchases/${paymentIntentId}/actions/dsar-erase`,
      { form: { _csrf: csrf, step: 'confirm', reason: 'forged by support', email } },
    );
    expect(forged.status()).toBe(403);
    await asSupport.context.close();

    const { context, page } = await signIn(harness, users.admin);
    await openPurchase(harness, page, email, paymentIntentId);
    const label = 'Erase the buyer’s personal data (DSAR)';
    const form = page.getByRole('form', { name: label });
    await form
      .getByLabel('The buyer’s email address, typed to confirm')
      .fill('someone@example.com');
    await form.getByLabel('Reason (recorded in the audit log)').fill('DSAR 2026-118');
    await form.getByRole('button', { name: /^Review/ }).click();
    expect(
      await page.getByRole('form', { name: label }).getByRole('alert').textContent(),
    ).toContain('not this purchase’s buyer');
    await form.getByLabel('The buyer’s email address, typed to confirm').fill(email.toUpperCase());
    await perform(page, label, 'DSAR 2026-118');

    expect(await page.getByRole('status').textContent()).toContain(
      'Personal data erased: 1 customer record(s).',
    );
    const steps = await cellsOf(page, 'Steps, in the order they ran');
    expect(steps.map(([step, outcome]) => [step, outcome])).toEqual([
      ['revoke_access', 'done'],
      ['stop_reminders', 'done'],
      ['erase', 'done'],
    ]);
    expect(steps[0]![2]).toContain('1 entitlement(s) revoked in 1 order(s); no cancellation email');
    expect(await page.getByRole('table', { name: 'Per table' }).textContent()).toContain(
      'claim_tokens',
    );

    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['revoked']);
    const customer = await stack.db
      .selectFrom('customers')
      .select('email')
      .where('id', '=', rows.orders[0]!.customer_id)
      .executeTakeFirstOrThrow();
    expect(customer.email).toMatch(/@redacted\.invalid$/);
    const erased = await stack.db
      .selectFrom('audit_log')
      .selectAll()
      .where('action', '=', 'dsar.deleted')
      .where('actor', '=', 'admin@example.test')
      .execute();
    expect(erased.map((a) => a.reason)).toEqual(['DSAR 2026-118']);
    // The erased buyer's purchase no longer offers the erasure (or a merge).
    await page.getByRole('link', { name: /Back to purchase/ }).click();
    expect(await page.getByRole('button', { name: /^Review/ }).allTextContents()).not.toContain(
      'Review: erase the buyer’s personal data (DSAR)…',
    );
    await context.close();
  });
});
