// Per-product grant, revoke and restore (seed 004), keyed by customer and SKU: the order's
// other products stay as they are. Through the admin API and the CLI, against real PostgreSQL
// and Temporal.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../stack/processes.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { searchAttributes } from '../../workflows/contracts.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';
import { auditOf, jsonOf, OPERATOR_TOKENS, operators, ops } from './support.ts';

const DURABLE = 'ebook-durable-execution';
const FIELD_GUIDE = 'ebook-idempotency-field-guide';

let stack: TestStack;
let issuer: Awaited<ReturnType<typeof createTestIssuer>>;
beforeAll(async () => {
  issuer = await createTestIssuer();
  stack = await startTestStack({
    env: { OPERATOR_TOKENS },
    app: { auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } },
  });
});
afterAll(async () => {
  await stack?.close();
});

const admin = operators.admin.token;
const call = (method: 'GET' | 'POST', url: string, token: string, payload?: object) =>
  stack.app.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload ? { payload } : {}),
  });

/** A signed-in buyer's purchase of both ebooks in one order, fulfilled. */
async function accountPurchase(options: { guest?: boolean } = {}) {
  const paymentIntentId = stripeTestId('pi');
  const email = `${paymentIntentId}@example.com`.toLowerCase();
  const userId = `auth0|${randomBytes(6).toString('hex')}`;
  const response = await postSignedEvent(
    stack.app,
    paymentSucceeded({
      paymentIntentId,
      email,
      skus: [DURABLE, FIELD_GUIDE],
      ...(options.guest ? {} : { userId }),
    }),
    stack.webhookSecret,
  );
  expect(response.statusCode).toBe(200);
  await settledFulfillment(stack.temporal, paymentIntentId);
  const token = await issuer.token({ sub: userId, email, email_verified: true });
  return { paymentIntentId, email, userId, token };
}

/** sku → status, for the purchase's entitlements. */
async function statusBySku(paymentIntentId: string) {
  const rows = await stack.db
    .selectFrom('entitlements')
    .innerJoin('orders', 'orders.id', 'entitlements.order_id')
    .innerJoin('products', 'products.id', 'entitlements.product_id')
    .select(['products.sku', 'entitlements.status'])
    .where('orders.purchase_key', '=', paymentIntentId)
    .execute();
  return Object.fromEntries(rows.map((r) => [r.sku, r.status]));
}

interface ShelfItem {
  sku: string;
  status: string;
  downloadable: boolean;
}
const shelf = async (token: string) =>
  (await call('GET', '/v1/entitlements?view=all', token)).json<{ items: ShelfItem[] }>().items;

interface ProductAccess {
  customerId: string;
  entitlements: {
    entitlementId: string;
    orderId: string;
    status: string;
    previous: string;
    orderRevoked: boolean;
    cancellationWorkflowId: string | null;
  }[];
}

async function finishedRun(workflowId: string) {
  const handle = stack.temporal.workflow.getHandle(workflowId);
  await handle.result();
  return handle.describe();
}

describe('per-product revoke and restore (admin API)', () => {
  it('revokes one product of a two-product order: the other stays active on the shelf, one cancellation email names it, restore brings it back, all audited', async () => {
    const { paymentIntentId, email, token } = await accountPurchase();
    expect(await statusBySku(paymentIntentId)).toEqual({
      [DURABLE]: 'active',
      [FIELD_GUIDE]: 'active',
    });

    const revoked = await call(
      'POST',
      `/admin/customers/${encodeURIComponent(email)}/products/${FIELD_GUIDE}/revoke`,
      admin,
      { reason: 'ticket 88: wrong product sold' },
    );
    expect(revoked.statusCode).toBe(200);
    const change = revoked.json<ProductAccess>();
    expect(change.entitlements).toMatchObject([
      { previous: 'active', status: 'revoked', orderRevoked: false },
    ]);
    const entitlementId = change.entitlements[0]!.entitlementId;
    expect(await statusBySku(paymentIntentId)).toEqual({
      [DURABLE]: 'active',
      [FIELD_GUIDE]: 'revoked',
    });
    expect((await shelf(token)).map((i) => [i.sku, i.status, i.downloadable]).sort()).toEqual([
      [DURABLE, 'active', true],
      [FIELD_GUIDE, 'revoked', false],
    ]);

    // One cancellation email, naming only the product taken back; the job stays completed and
    // the cancellation run shows that in FulfillmentStatus.
    const run = await finishedRun(change.entitlements[0]!.cancellationWorkflowId!);
    expect(run.typedSearchAttributes.get(searchAttributes.fulfillmentStatus)).toBe('completed');
    const rows = await purchaseRows(stack.db, paymentIntentId);
    const cancellations = rows.emails.filter((e) => e.kind === 'cancellation');
    expect(cancellations).toHaveLength(1);
    expect(cancellations[0]!.subject).toMatch(/^Items of your order .* were cancelled$/);
    expect(cancellations[0]!.text).toContain('The Idempotency Field Guide');
    expect(cancellations[0]!.text).not.toContain('Durable Execution in Practice');
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);

    // Revoking again changes nothing and sends nothing more.
    const again = await call(
      'POST',
      `/admin/customers/${encodeURIComponent(email)}/products/${FIELD_GUIDE}/revoke`,
      admin,
      { reason: 'double click' },
    );
    expect(again.json<ProductAccess>().entitlements).toMatchObject([
      { previous: 'revoked', status: 'revoked' },
    ]);

    const restored = await call(
      'POST',
      `/admin/customers/${change.customerId}/products/${FIELD_GUIDE}/restore`,
      admin,
      { reason: 'ticket 88: sold correctly after all' },
    );
    expect(restored.statusCode).toBe(200);
    expect(restored.json<ProductAccess>().entitlements).toMatchObject([
      { previous: 'revoked', status: 'active' },
    ]);
    expect(await statusBySku(paymentIntentId)).toEqual({
      [DURABLE]: 'active',
      [FIELD_GUIDE]: 'active',
    });
    expect((await shelf(token)).every((i) => i.status === 'active' && i.downloadable)).toBe(true);
    await waitFor('the second click settled', async () =>
      (await purchaseRows(stack.db, paymentIntentId)).emails.every((e) => e.status !== 'queued'),
    );
    expect(
      (await purchaseRows(stack.db, paymentIntentId)).emails.filter(
        (e) => e.kind === 'cancellation',
      ),
    ).toHaveLength(1);

    expect((await auditOf(stack, entitlementId)).map((a) => [a.actor, a.action, a.reason])).toEqual(
      [
        // The paid purchase's grant (docs/AUDIT.md), then the operator's two actions.
        ['system', 'entitlement.granted', null],
        ['alice', 'entitlement.revoked', 'ticket 88: wrong product sold'],
        ['alice', 'entitlement.restored', 'ticket 88: sold correctly after all'],
      ],
    );
  });

  it('revokes the whole order product by product: the job and FulfillmentStatus become revoked, and a restore completes it again', async () => {
    const { paymentIntentId, email } = await accountPurchase();
    const revoke = (sku: string) =>
      call('POST', `/admin/customers/${email}/products/${sku}/revoke`, admin, {
        reason: 'fraud ring',
      });
    await revoke(DURABLE);
    const last = (await revoke(FIELD_GUIDE)).json<ProductAccess>();
    expect(last.entitlements).toMatchObject([{ status: 'revoked', orderRevoked: true }]);
    const run = await finishedRun(last.entitlements[0]!.cancellationWorkflowId!);
    expect(run.typedSearchAttributes.get(searchAttributes.fulfillmentStatus)).toBe('revoked');
    expect((await purchaseRows(stack.db, paymentIntentId)).jobs).toMatchObject([
      { status: 'revoked' },
    ]);

    await call('POST', `/admin/customers/${email}/products/${DURABLE}/restore`, admin, {
      reason: 'cleared',
    });
    expect(await statusBySku(paymentIntentId)).toEqual({
      [DURABLE]: 'active',
      [FIELD_GUIDE]: 'revoked',
    });
    expect((await purchaseRows(stack.db, paymentIntentId)).jobs).toMatchObject([
      { status: 'completed' },
    ]);
  });

  it('keeps a revoked product revoked when the guest later claims the order', async () => {
    const { paymentIntentId, email, token } = await accountPurchase({ guest: true });
    const revoked = await call(
      'POST',
      `/admin/customers/${email}/products/${DURABLE}/revoke`,
      admin,
      { reason: 'chargeback on one item', notifyBuyer: false },
    );
    expect(revoked.json<ProductAccess>().entitlements).toMatchObject([
      { previous: 'pending_claim', status: 'revoked', cancellationWorkflowId: null },
    ]);
    expect((await call('POST', '/v1/claims', token, {})).statusCode).toBe(200);
    expect(await statusBySku(paymentIntentId)).toEqual({
      [DURABLE]: 'revoked',
      [FIELD_GUIDE]: 'active',
    });
    expect((await purchaseRows(stack.db, paymentIntentId)).emails.map((e) => e.kind)).not.toContain(
      'cancellation',
    );
  });

  it('answers 400 naming the field for bad input, 404 for an unknown customer or product, 403 for a support token', async () => {
    const { email } = await accountPurchase();
    const url = `/admin/customers/${email}/products/${DURABLE}/revoke`;
    const missing = await call('POST', url, admin, {});
    expect(missing.statusCode).toBe(400);
    expect(missing.json<{ error: string }>().error).toMatch(/reason/);
    const unknownField = await call('POST', url, admin, { reason: 'ok then', notify: false });
    expect(unknownField.statusCode).toBe(400);
    expect(unknownField.json<{ error: string }>().error).toMatch(/notify/);
    const wrongType = await call('POST', url, admin, { reason: 'ok then', notifyBuyer: 'no' });
    expect(wrongType.statusCode).toBe(400);
    expect(wrongType.json<{ error: string }>().error).toMatch(/notifyBuyer/);
    expect(
      (
        await call(
          'POST',
          `/admin/customers/nobody@example.com/products/${DURABLE}/revoke`,
          admin,
          {
            reason: 'ok then',
          },
        )
      ).statusCode,
    ).toBe(404);
    expect(
      (
        await call(
          'POST',
          `/admin/customers/${email}/products/course-webhooks-workbook/revoke`,
          admin,
          {
            reason: 'ok then',
          },
        )
      ).statusCode,
    ).toBe(404);
    expect(
      (await call('POST', url, operators.support.token, { reason: 'ok then' })).statusCode,
    ).toBe(403);
  });
});

const as = ['--operator', 'carol', '--reason', 'ticket 4712'];

describe('npm run ops -- products', () => {
  it('revokes without an email and restores, by email and by customer id', async () => {
    const { paymentIntentId, email } = await accountPurchase();
    const revoked = jsonOf<ProductAccess>(
      await ops([
        'products',
        'revoke',
        '--customer',
        email,
        '--sku',
        DURABLE,
        '--no-email',
        ...as,
        '--json',
      ]),
    );
    expect(revoked.entitlements).toMatchObject([
      { status: 'revoked', cancellationWorkflowId: null },
    ]);
    expect(await statusBySku(paymentIntentId)).toEqual({
      [DURABLE]: 'revoked',
      [FIELD_GUIDE]: 'active',
    });

    const table = await ops([
      'products',
      'restore',
      '--customer',
      revoked.customerId,
      '--sku',
      DURABLE,
      ...as,
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/active/);
    expect(await statusBySku(paymentIntentId)).toEqual({
      [DURABLE]: 'active',
      [FIELD_GUIDE]: 'active',
    });
    expect((await purchaseRows(stack.db, paymentIntentId)).emails.map((e) => e.kind)).toEqual([
      'delivery',
    ]);
  });

  it('grants another product to an existing customer, and refuses one the customer owns', async () => {
    const { email } = await accountPurchase();
    const customer = await stack.db
      .selectFrom('customers')
      .select('id')
      .where('email', '=', email)
      .executeTakeFirstOrThrow();
    const owned = await ops(['products', 'grant', '--customer', email, '--sku', DURABLE, ...as]);
    expect(owned.code).toBe(1);
    expect(owned.stderr).toMatch(/owns ebook-durable-execution already/);

    const granted = jsonOf<{ purchaseKey: string; customerId: string }[]>(
      await ops([
        'products',
        'grant',
        '--customer',
        email,
        '--sku',
        'course-webhooks-workbook',
        ...as,
        '--json',
      ]),
    )[0]!;
    expect(granted.customerId).toBe(customer.id);
    await settledFulfillment(stack.temporal, granted.purchaseKey);
    const grant = await purchaseRows(stack.db, granted.purchaseKey);
    expect(grant.orders).toMatchObject([{ customer_id: customer.id, source: 'reward' }]);
    expect(grant.entitlements.map((e) => e.status)).toEqual(['active']);
    expect((await auditOf(stack, granted.purchaseKey)).map((a) => [a.actor, a.action])).toEqual([
      ['carol', 'entitlement.granted'],
    ]);
  });

  it('refuses a product command without --customer and --sku (exit 2)', async () => {
    const usage = await ops(['products', 'revoke', '--customer', 'x@example.com', ...as]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--customer and --sku/);
  });
});
