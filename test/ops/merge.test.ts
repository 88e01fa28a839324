// Account merge (seed 000: "verify at least two data points before linking records and
// documenting the change"): a customer's purchases move to another account without a new
// order, through the admin API and the CLI, against real PostgreSQL and Temporal.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';
import { auditOf, jsonOf, OPERATOR_TOKENS, operators, ops, purchase } from './support.ts';

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

const merge = (payload: object, token: string = operators.admin.token) =>
  stack.app.inject({
    method: 'POST',
    url: '/admin/customers/merge',
    headers: { authorization: `Bearer ${token}` },
    payload,
  });

/** A buyer with an account under `email`, who bought one workbook signed in. */
async function account() {
  const paymentIntentId = stripeTestId('pi');
  const email = `account-${randomBytes(4).toString('hex')}@example.com`;
  const userId = `auth0|${randomBytes(6).toString('hex')}`;
  await postSignedEvent(
    stack.app,
    paymentSucceeded({ paymentIntentId, email, userId, skus: ['course-webhooks-workbook'] }),
    stack.webhookSecret,
  );
  await settledFulfillment(stack.temporal, paymentIntentId);
  const customer = await stack.db
    .selectFrom('customers')
    .selectAll()
    .where('email', '=', email)
    .executeTakeFirstOrThrow();
  const token = await issuer.token({ sub: userId, email, email_verified: true });
  return { email, customer, token };
}

const customerByEmail = (email: string) =>
  stack.db.selectFrom('customers').selectAll().where('email', '=', email).executeTakeFirst();

interface Merged {
  mergeId: string;
  fromCustomerId: string;
  toCustomerId: string;
  toCreated: boolean;
  orders: { orderId: string; purchaseKey: string }[];
  entitlementsMoved: number;
  verification: { kind: string; value: string; check: string }[];
}

describe('account merge (admin API)', () => {
  it('moves a guest purchase to the buyer’s account: the same order row, the shelf shows it, the merge and its data points recorded', async () => {
    const guest = await purchase(stack);
    const before = (await purchaseRows(stack.db, guest.paymentIntentId)).orders[0]!;
    const target = await account();

    const response = await merge({
      from: guest.email,
      to: target.email,
      verification: [
        { kind: 'payment_intent', value: guest.paymentIntentId },
        { kind: 'last4', value: '4242' },
      ],
      reason: 'ticket 4713: bought under her old address',
    });
    expect(response.statusCode).toBe(200);
    const merged = response.json<Merged>();
    expect(merged).toMatchObject({
      toCustomerId: target.customer.id,
      toCreated: false,
      orders: [{ orderId: before.id, purchaseKey: guest.paymentIntentId }],
      entitlementsMoved: 1,
      verification: [
        { kind: 'payment_intent', value: guest.paymentIntentId, check: 'matched' },
        { kind: 'last4', value: '4242', check: 'attested' },
      ],
    });

    // The finance record stays whole: one order, the same amounts and payment intent, now on
    // the account; no order was created for the move.
    const after = await purchaseRows(stack.db, guest.paymentIntentId);
    expect(after.orders).toEqual([{ ...before, customer_id: target.customer.id }]);
    expect(after.entitlements).toMatchObject([
      { customer_id: target.customer.id, status: 'active' },
    ]);
    const accountOrders = await stack.db
      .selectFrom('orders')
      .select('purchase_key')
      .where('customer_id', '=', target.customer.id)
      .execute();
    expect(accountOrders).toHaveLength(2);

    const shelf = await stack.app.inject({
      method: 'GET',
      url: '/v1/entitlements?view=all',
      headers: { authorization: `Bearer ${target.token}` },
    });
    expect(
      shelf
        .json<{ items: { sku: string; status: string }[] }>()
        .items.map((i) => [i.sku, i.status])
        .sort(),
    ).toEqual([
      ['course-webhooks-workbook', 'active'],
      ['ebook-durable-execution', 'active'],
    ]);

    const recorded = await stack.db
      .selectFrom('customer_merges')
      .selectAll()
      .where('id', '=', merged.mergeId)
      .executeTakeFirstOrThrow();
    expect(recorded).toMatchObject({
      from_customer_id: merged.fromCustomerId,
      to_customer_id: target.customer.id,
      order_ids: [before.id],
      entitlements_moved: 1,
      operator: 'alice',
      reason: 'ticket 4713: bought under her old address',
    });
    expect(recorded.verification).toEqual(merged.verification);
    expect(await auditOf(stack, merged.fromCustomerId)).toMatchObject([
      {
        actor: 'alice',
        action: 'customer.merged',
        reason: 'ticket 4713: bought under her old address',
        detail: {
          to: target.customer.id,
          verification: [
            { kind: 'payment_intent', check: 'matched' },
            { kind: 'last4', check: 'attested' },
          ],
        },
      },
    ]);
    // No cancellation: the buyer keeps the products.
    expect(after.emails.map((e) => e.kind)).not.toContain('cancellation');
  });

  it('refuses fewer than two data points, two of one kind, or one that matches no order — naming the field, moving nothing', async () => {
    const guest = await purchase(stack);
    const target = await account();
    const base = { from: guest.email, to: target.email, reason: 'ticket 4720' };

    const one = await merge({ ...base, verification: [{ kind: 'last4', value: '4242' }] });
    expect(one.statusCode).toBe(400);
    expect(one.json<{ error: string }>().error).toMatch(
      /verification: at least 2 verification data points/,
    );
    const sameKind = await merge({
      ...base,
      verification: [
        { kind: 'last4', value: '4242' },
        { kind: 'last4', value: '1881' },
      ],
    });
    expect(sameKind.statusCode).toBe(400);
    expect(sameKind.json<{ error: string }>().error).toMatch(/different kinds/);
    const unknownKind = await merge({
      ...base,
      verification: [
        { kind: 'shoe_size', value: '42' },
        { kind: 'last4', value: '4242' },
      ],
    });
    expect(unknownKind.statusCode).toBe(400);
    expect(unknownKind.json<{ error: string }>().error).toMatch(/verification\.0\.kind/);
    const wrongOrder = await merge({
      ...base,
      verification: [
        { kind: 'payment_intent', value: 'pi_someone_else' },
        { kind: 'last4', value: '4242' },
      ],
    });
    expect(wrongOrder.statusCode).toBe(400);
    expect(wrongOrder.json<{ error: string }>().error).toMatch(
      /verification payment_intent: pi_someone_else matches none of the customer's orders/,
    );

    const rows = await purchaseRows(stack.db, guest.paymentIntentId);
    expect(rows.orders[0]!.customer_id).toBe((await customerByEmail(guest.email))!.id);
    expect(
      await stack.db
        .selectFrom('customer_merges')
        .select('id')
        .where('to_customer_id', '=', target.customer.id)
        .execute(),
    ).toEqual([]);
    expect((await merge({ ...base, verification: [] }, operators.support.token)).statusCode).toBe(
      403,
    );
  });
});

describe('npm run ops -- customers merge', () => {
  it('moves purchases to a new address (a guest profile is created) with the data points given as --verify', async () => {
    const guest = await purchase(stack);
    const order = (await purchaseRows(stack.db, guest.paymentIntentId)).orders[0]!;
    const newEmail = `renamed-${randomBytes(4).toString('hex')}@example.com`;
    const merged = jsonOf<Merged>(
      await ops([
        'customers',
        'merge',
        '--from',
        guest.email,
        '--to',
        newEmail,
        '--verify',
        `order_id=${order.id}`,
        '--verify',
        `purchase_date=${order.paid_at.toISOString().slice(0, 10)}`,
        '--operator',
        'carol',
        '--reason',
        'ticket 4721: changed email',
        '--json',
      ]),
    );
    expect(merged).toMatchObject({ toCreated: true, entitlementsMoved: 1 });
    const created = await customerByEmail(newEmail);
    expect(created).toMatchObject({ id: merged.toCustomerId, status: 'pending_claim' });
    const rows = await purchaseRows(stack.db, guest.paymentIntentId);
    expect(rows.orders).toMatchObject([{ id: order.id, customer_id: created!.id }]);
    expect(rows.entitlements).toMatchObject([
      { customer_id: created!.id, status: 'pending_claim' },
    ]);

    const refused = await ops([
      'customers',
      'merge',
      '--from',
      newEmail,
      '--to',
      guest.email,
      '--verify',
      'last4=4242',
      '--operator',
      'carol',
      '--reason',
      'ticket 4721',
    ]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/at least 2 data points of different kinds/);
  });
});
