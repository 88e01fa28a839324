// The support console in a real browser (Debian's Chromium through playwright-core): sign-in
// through a real OpenID Connect provider, search, the purchase timeline, actions with a reason
// and a confirmation, roles, CSRF and the Content-Security-Policy.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { purchaseRows } from '../helpers/purchases.ts';
import type { TestStack } from '../helpers/stack.ts';
import { auditOf, purchase, waitForEmails } from '../ops/support.ts';
import {
  openPurchase as openPurchaseIn,
  SCREENSHOTS,
  signIn as signInTo,
  startConsoleHarness,
  users,
  type ConsoleHarness,
  type ConsoleUser,
} from './harness.ts';

let harness: ConsoleHarness;
let stack: TestStack;
let base: string;

beforeAll(async () => {
  harness = await startConsoleHarness();
  ({ stack, base } = harness);
});
afterAll(async () => {
  await harness?.close();
});

const signIn = (user: ConsoleUser) => signInTo(harness, user);
const openPurchase = (...args: [Parameters<typeof openPurchaseIn>[1], string, string]) =>
  openPurchaseIn(harness, ...args);

describe('support console', () => {
  it('sends a visitor to the sign-in page and refuses a wrong password', async () => {
    const context = await harness.browser.newContext();
    const page = await context.newPage();
    const response = await page.goto(`${base}/console/purchases?email=x%40example.com`);
    expect(page.url()).toMatch(/\/console\/sign-in\?return_to=/);
    expect(response!.headers()['content-security-policy']).toContain("script-src 'none'");
    await page.screenshot({ path: path.join(SCREENSHOTS, 'sign-in.png') });
    await page.getByRole('link', { name: /Sign in with/ }).click();
    await page.getByLabel('Email').fill(users.support.email);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('wrong password');
    await context.close();
  });

  it('refuses an account without a console role', async () => {
    const context = await harness.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${base}/console/sign-in`);
    await page.getByRole('link', { name: /Sign in with/ }).click();
    await page.getByLabel('Email').fill(users.nobody.email);
    await page.getByLabel('Password').fill(users.nobody.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/console/sign-in`);
    expect(await page.getByRole('alert').textContent()).toContain('has no console role');
    expect((await page.goto(`${base}/console/purchases`))!.url()).toMatch(/sign-in/);
    await context.close();
  });

  it('lets support find a purchase by email, read its timeline and resend with a reason, audited as the agent', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const { context, page } = await signIn(users.support);
    await page.getByLabel('Buyer email').fill(email.toUpperCase());
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.getByRole('row', { name: new RegExp(paymentIntentId) });
    await expect(row.textContent()).resolves.toContain('completed');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'search.png'), fullPage: true });
    await row.getByRole('link', { name: /Open/ }).click();

    const timeline = page.getByRole('table', { name: /Webhook events, job steps/ });
    const text = await timeline.textContent();
    expect(text).toContain('payment_intent.succeeded');
    expect(text).toContain('pending_storage');
    expect(text).toContain('delivery sent');
    const temporalLink = page.getByRole('link', { name: /in the Temporal UI/ });
    expect(await temporalLink.getAttribute('href')).toBe(
      `http://localhost:8233/namespaces/default/workflows/fulfillment-${paymentIntentId}`,
    );
    // Support sees its own actions only (the admin API's support routes), not the admin ones.
    expect(await page.getByRole('button', { name: /^Review/ }).allTextContents()).toEqual([
      'Review: resend download links…',
      'Review: send a fresh claim link…',
      'Review: create a temporary download link…',
      'Review: check a product’s files…',
    ]);
    expect(await page.getByRole('region', { name: 'Actions' }).textContent()).toContain(
      'Needs another role: Retry the fulfillment, Revoke access, Restore access, Revoke one product, Restore one product, Replay a webhook event, Move purchases to another email, Erase the buyer’s personal data (DSAR).',
    );
    await page.screenshot({ path: path.join(SCREENSHOTS, 'purchase-support.png'), fullPage: true });

    // The reason is required: the browser keeps the form until it is given.
    const resend = page.getByRole('form', { name: 'Resend download links' });
    await resend.getByRole('button', { name: 'Review: resend download links…' }).click();
    expect(page.url()).toMatch(new RegExp(`/console/purchases/${paymentIntentId}$`));
    await resend.getByLabel('Reason (recorded in the audit log)').fill('buyer lost the receipt');
    await resend.getByRole('button', { name: 'Review: resend download links…' }).click();
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe(
      'Confirm: resend download links',
    );
    expect(await page.locator('main').textContent()).toContain('support@example.test (support)');
    await page.screenshot({ path: path.join(SCREENSHOTS, 'confirm.png') });
    // Nothing happens before the confirmation.
    const before = await purchaseRows(stack.db, paymentIntentId);
    expect(await auditOf(stack, before.orders[0]!.id)).toEqual([]);
    await page.getByRole('button', { name: 'Confirm: resend download links' }).click();

    expect(await page.getByRole('status').textContent()).toContain(`Links resent to ${email}`);
    const auditRow = page.getByRole('row', { name: /links\.resent/ });
    expect(await auditRow.textContent()).toContain('actor: support@example.test');
    expect(await auditRow.textContent()).toContain('reason: buyer lost the receipt');
    await waitForEmails(stack, paymentIntentId, 'resend', 1);
    const audit = await auditOf(stack, before.orders[0]!.id);
    expect(audit).toMatchObject([
      { action: 'links.resent', actor: 'support@example.test', reason: 'buyer lost the receipt' },
    ]);
    await context.close();
  });

  it('refuses support an admin action even when the form is forged, and changes nothing', async () => {
    const { paymentIntentId } = await purchase(stack);
    const { context, page } = await signIn(users.support);
    await page.goto(`${base}/console/purchases/${paymentIntentId}`);
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const response = await context.request.post(
      `${base}/console/purchases/${paymentIntentId}/actions/revoke`,
      { form: { _csrf: csrf, step: 'confirm', reason: 'forged by support', notify_buyer: 'on' } },
    );
    expect(response.status()).toBe(403);
    expect(await response.text()).toContain('needs the admin role');
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['pending_claim']);
    await context.close();
  });

  it('lets an admin revoke with a reason and a confirmation, and shows the audit row', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const { context, page } = await signIn(users.admin);
    await openPurchase(page, email, paymentIntentId);
    expect(await page.getByRole('button', { name: /^Review/ }).allTextContents()).toEqual([
      'Review: resend download links…',
      'Review: send a fresh claim link…',
      'Review: create a temporary download link…',
      'Review: check a product’s files…',
      'Review: retry the fulfillment…',
      'Review: revoke access…',
      'Review: restore access…',
      'Review: replay a webhook event…',
      'Review: move purchases to another email…',
      'Review: erase the buyer’s personal data (DSAR)…',
    ]);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'purchase-admin.png'), fullPage: true });
    const revoke = page.getByRole('form', { name: 'Revoke access' });
    await revoke.getByLabel('Email the buyer a cancellation notice').uncheck();
    await revoke.getByLabel('Reason (recorded in the audit log)').fill('chargeback by phone');
    // Keyboard only: Enter in the reason's form moves to the confirmation.
    await revoke.getByRole('button', { name: /Review/ }).press('Enter');
    expect(await page.locator('main').textContent()).toMatch(
      /Email the buyer a cancellation notice\s*no/,
    );
    await page.getByRole('button', { name: 'Confirm: revoke access' }).click();

    expect(await page.getByRole('status').textContent()).toContain('Access is now revoked');
    expect(await page.getByRole('table', { name: 'Products' }).textContent()).toContain('revoked');
    expect(await page.getByRole('row', { name: /entitlement\.revoked/ }).textContent()).toContain(
      'reason: chargeback by phone',
    );
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['revoked']);
    expect(await auditOf(stack, rows.orders[0]!.id)).toMatchObject([
      { action: 'entitlement.revoked', actor: 'admin@example.test', reason: 'chargeback by phone' },
    ]);
    await context.close();
  });

  it('lets an admin revoke one product of a purchase and restore it, leaving the other', async () => {
    const durable = 'ebook-durable-execution';
    const guide = 'ebook-idempotency-field-guide';
    const { paymentIntentId, email } = await purchase(stack, [durable, guide]);
    const { context, page } = await signIn(users.admin);
    await openPurchase(page, email, paymentIntentId);
    const statuses = async () =>
      Object.fromEntries(
        (await purchaseRows(stack.db, paymentIntentId)).entitlements.map((e) => [
          e.product_id,
          e.status,
        ]),
      );
    const before = await statuses();

    const revoke = page.getByRole('form', { name: 'Revoke one product' });
    await revoke.getByLabel('Product', { exact: true }).selectOption(guide);
    await revoke.getByLabel(/Email the buyer a cancellation notice/).uncheck();
    await revoke.getByLabel('Reason (recorded in the audit log)').fill('bought by mistake');
    await revoke.getByRole('button', { name: /Review/ }).click();
    await page.getByRole('button', { name: 'Confirm: revoke one product' }).click();
    expect(await page.getByRole('status').textContent()).toContain(`${guide} revoked`);

    // The guest's two products were waiting for a claim; only the chosen one is revoked.
    expect(Object.values(before)).toEqual(['pending_claim', 'pending_claim']);
    const afterRevoke = await statuses();
    expect(Object.values(afterRevoke).sort()).toEqual(['pending_claim', 'revoked']);
    expect(Object.keys(afterRevoke).sort()).toEqual(Object.keys(before).sort());

    const restore = page.getByRole('form', { name: 'Restore one product' });
    await expect(
      restore.getByLabel('Product', { exact: true }).locator('option').allTextContents(),
    ).resolves.toEqual([expect.stringContaining(guide)]);
    await restore.getByLabel('Reason (recorded in the audit log)').fill('mistake was ours');
    await restore.getByRole('button', { name: /Review/ }).click();
    await page.getByRole('button', { name: 'Confirm: restore one product' }).click();
    expect(await page.getByRole('status').textContent()).toContain(`${guide} restored`);
    expect(await statuses()).toEqual(before);

    // Audited on the product's entitlement, as the agent.
    const revoked = Object.entries(afterRevoke).find(([, status]) => status === 'revoked')![0];
    const entitlement = (await purchaseRows(stack.db, paymentIntentId)).entitlements.find(
      (e) => e.product_id === revoked,
    )!;
    const operatorRows = (await auditOf(stack, entitlement.id)).filter(
      (row) => row.actor === 'admin@example.test',
    );
    expect(operatorRows).toMatchObject([
      { action: 'entitlement.revoked', actor: 'admin@example.test', reason: 'bought by mistake' },
      { action: 'entitlement.restored', actor: 'admin@example.test', reason: 'mistake was ours' },
    ]);
    await context.close();
  });

  it('refuses a mutation without the CSRF token', async () => {
    const { paymentIntentId } = await purchase(stack);
    const { context } = await signIn(users.admin);
    const response = await context.request.post(
      `${base}/console/purchases/${paymentIntentId}/actions/resend`,
      { form: { step: 'confirm', reason: 'no token' } },
    );
    expect(response.status()).toBe(403);
    expect(await response.text()).toContain('CSRF token is missing or wrong');
    const wrong = await context.request.post(
      `${base}/console/purchases/${paymentIntentId}/actions/resend`,
      { form: { _csrf: 'made-up', step: 'confirm', reason: 'wrong token' } },
    );
    expect(wrong.status()).toBe(403);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(await auditOf(stack, rows.orders[0]!.id)).toEqual([]);
    await context.close();
  });

  it('serves pages with a Content-Security-Policy and a session cookie the page script cannot read', async () => {
    const { context, page } = await signIn(users.support);
    const response = await page.goto(`${base}/console/purchases?status=completed`);
    const csp = response!.headers()['content-security-policy'] ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(response!.headers()['cache-control']).toBe('no-store');
    const [cookie] = (await context.cookies()).filter((c) => c.name === 'console_session');
    expect(cookie).toMatchObject({
      httpOnly: true,
      secure: true,
      sameSite: 'Lax',
      path: '/console',
    });
    // The empty state is stated, not a blank table.
    await page.goto(`${base}/console/purchases?email=nobody-bought-this%40example.com`);
    expect(await page.getByRole('status').textContent()).toContain('No purchase matches');
    await context.close();
  });

  it('renders the readable API reference at /docs under its Content-Security-Policy', async () => {
    const context = await harness.browser.newContext({ viewport: { width: 1366, height: 900 } });
    const page = await context.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(`${base}/docs`);
    expect(page.url()).toBe(`${base}/docs/reference/`);
    await page.getByText('The signed-in user’s shelf, newest purchase first').first().waitFor();
    await page.screenshot({ path: path.join(SCREENSHOTS, 'api-reference.png') });
    expect(violations).toEqual([]);
    await context.close();
  });
});
