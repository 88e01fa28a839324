import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';
import { jsonOf, ops } from '../ops/support.ts';

/**
 * One person, two addresses: an account whose profile email is not the billing email of every
 * purchase. A purchase for a known auth user belongs to that account, whatever its email.
 */

let stack: TestStack;
let issuer: Awaited<ReturnType<typeof createTestIssuer>>;
beforeAll(async () => {
  issuer = await createTestIssuer();
  stack = await startTestStack({
    app: { auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } },
  });
});
afterAll(async () => {
  await stack?.close();
});

async function pay(options: { email: string; userId?: string; skus?: string[] }) {
  const paymentIntentId = stripeTestId('pi');
  const response = await postSignedEvent(
    stack.app,
    paymentSucceeded({ paymentIntentId, ...options }),
    stack.webhookSecret,
  );
  expect(response.statusCode).toBe(200);
  await settledFulfillment(stack.temporal, paymentIntentId);
  return paymentIntentId;
}

const customerOf = (email: string) =>
  stack.db.selectFrom('customers').selectAll().where('email', '=', email).executeTakeFirst();

/** An account (user id, profile email B) that claimed a guest purchase made under email A. */
async function accountWithClaimedGuestPurchase() {
  const tag = randomBytes(5).toString('hex');
  const userId = `auth0|${tag}`;
  const accountEmail = `account-${tag}@example.com`;
  const guestEmail = `guest-${tag}@example.com`;
  await pay({ email: accountEmail, userId });
  const guestPurchase = await pay({ email: guestEmail, skus: ['ebook-idempotency-field-guide'] });
  const receipt = (await purchaseRows(stack.db, guestPurchase)).emails[0]!;
  const link = /Claim it here: (\S+)/.exec(receipt.text)![1]!;
  const jwt = await issuer.token({ sub: userId, email: accountEmail, email_verified: true });
  const claim = await stack.app.inject({
    method: 'POST',
    url: '/v1/claims',
    headers: { authorization: `Bearer ${jwt}` },
    payload: { token: new URL(link).pathname.split('/').at(-1) },
  });
  expect(claim.json()).toEqual({ claimed: 1 });
  const account = (await customerOf(accountEmail))!;
  return { userId, accountEmail, guestEmail, guestPurchase, account, jwt };
}

describe('a purchase for a known auth user', () => {
  it('merges a claim into the existing account under another email: orders move, the shelf shows both', async () => {
    const { account, guestEmail, guestPurchase, jwt } = await accountWithClaimedGuestPurchase();
    const rows = await purchaseRows(stack.db, guestPurchase);
    expect(rows.orders[0]!.customer_id).toBe(account.id);
    expect(rows.entitlements.map((e) => [e.customer_id, e.status])).toEqual([
      [account.id, 'active'],
    ]);
    // The emptied guest profile keeps no live claim link.
    const guest = (await customerOf(guestEmail))!;
    const openTokens = await stack.db
      .selectFrom('claim_tokens')
      .select('id')
      .where('customer_id', '=', guest.id)
      .where('used_at', 'is', null)
      .execute();
    expect(openTokens).toEqual([]);
    const shelf = await stack.app.inject({
      method: 'GET',
      url: '/v1/entitlements',
      headers: { authorization: `Bearer ${jwt}` },
    });
    expect(
      shelf
        .json<{ items: { title: string; status: string }[] }>()
        .items.map((i) => i.status)
        .sort(),
    ).toEqual(['active', 'active']);
  });

  it('completes the second signed-in purchase under the claimed guest email, on the account’s shelf', async () => {
    const { userId, account, accountEmail, guestEmail } = await accountWithClaimedGuestPurchase();
    const second = await pay({ email: guestEmail, userId, skus: ['course-webhooks-workbook'] });
    const rows = await purchaseRows(stack.db, second);
    expect(rows.jobs.map((j) => j.status)).toEqual(['completed']);
    expect(rows.orders[0]!.customer_id).toBe(account.id);
    expect(rows.entitlements.map((e) => [e.customer_id, e.status])).toEqual([
      [account.id, 'active'],
    ]);
    expect(rows.emails.map((e) => [e.kind, e.status, e.recipient])).toEqual([
      ['delivery', 'sent', accountEmail],
    ]);
    // The guest profile of that address was not linked to anyone.
    expect((await customerOf(guestEmail))!.auth_user_id).toBeNull();
  });

  it('lets an operator grant by user id to an account whose profile email differs', async () => {
    const { userId, account, guestEmail } = await accountWithClaimedGuestPurchase();
    const granted = jsonOf<[{ purchaseKey: string; workflowId: string }]>(
      await ops([
        'entitlements',
        'grant',
        '--email',
        guestEmail,
        '--user-id',
        userId,
        '--sku',
        'course-webhooks-workbook',
        '--operator',
        'alice',
        '--reason',
        'ticket 9001: comp for the account',
        '--json',
      ]),
    )[0];
    await settledFulfillment(stack.temporal, granted.purchaseKey);
    const rows = await purchaseRows(stack.db, granted.purchaseKey);
    expect(rows.jobs.map((j) => j.status)).toEqual(['completed']);
    expect(rows.entitlements.map((e) => [e.customer_id, e.status])).toEqual([
      [account.id, 'active'],
    ]);
    expect(rows.emails.map((e) => [e.kind, e.status])).toEqual([['delivery', 'sent']]);
  });
});
