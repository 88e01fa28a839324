import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildChargeRefundedEvent, stripeTestId } from '../../stack/stripe-events.ts';
import {
  fulfillmentStatusQuery,
  fulfillmentWorkflowId,
  refundWorkflowId,
} from '../../workflows/contracts.ts';
import { waitFor } from '../../stack/processes.ts';
import { shelfResponse } from '../../api/schemas.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

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

/** A guest purchase and the user who will claim it (same, verified email). */
async function guestPurchase() {
  const paymentIntentId = stripeTestId('pi');
  const email = `${paymentIntentId}@example.com`;
  await postSignedEvent(
    stack.app,
    paymentSucceeded({ paymentIntentId, email }),
    stack.webhookSecret,
  );
  await settledFulfillment(stack.temporal, paymentIntentId);
  const token = await issuer.token({
    sub: `auth0|${randomBytes(6).toString('hex')}`,
    email,
    email_verified: true,
  });
  return { paymentIntentId, email, token };
}

const call = (
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  token: string | null,
  payload?: object,
) =>
  stack.app.inject({
    method,
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(payload ? { payload } : {}),
  });

interface Shelf {
  items: {
    id: string;
    title: string;
    status: string;
    downloadable: boolean;
    archived: boolean;
    formats: string[];
  }[];
  hasMore: boolean;
}

describe('the storefront API', () => {
  it('answers 401 without a token, with an expired one or one from another issuer', async () => {
    expect((await call('GET', '/v1/entitlements', null)).statusCode).toBe(401);
    const expired = await issuer.token({ sub: 'auth0|x' }, { expiresIn: '-1m' });
    expect((await call('GET', '/v1/entitlements', expired)).statusCode).toBe(401);
    const foreign = await issuer.token({ sub: 'auth0|x' }, { issuer: 'https://evil.test/' });
    expect((await call('GET', '/v1/entitlements', foreign)).statusCode).toBe(401);
  });

  it('walks the guest journey: claim, shelf shows active, reminders stop, fresh download URL works', async () => {
    const { paymentIntentId, token } = await guestPurchase();
    expect((await call('GET', '/v1/entitlements', token)).json<Shelf>().items).toEqual([]);

    const claim = await call('POST', '/v1/claims', token, {});
    expect(claim.json()).toEqual({ claimed: 1 });
    const shelf = (await call('GET', '/v1/entitlements', token)).json<Shelf>();
    // The answer is exactly what /docs documents.
    expect(shelfResponse.safeParse(shelf).error).toBeUndefined();
    expect(shelf.items).toMatchObject([
      {
        title: 'Durable Execution in Practice',
        status: 'active',
        downloadable: true,
        formats: ['pdf', 'epub'],
      },
    ]);
    const handle = stack.temporal.workflow.getHandle(fulfillmentWorkflowId(paymentIntentId));
    await waitFor(
      'reminders cancelled',
      async () => (await handle.query(fulfillmentStatusQuery)).phase === 'done',
      { timeoutMs: 20_000 },
    );
    expect((await purchaseRows(stack.db, paymentIntentId)).emails.map((e) => e.kind)).toEqual([
      'delivery',
    ]);

    const download = await call(
      'POST',
      `/v1/entitlements/${shelf.items[0]!.id}/download-url`,
      token,
      { format: 'epub' },
    );
    expect(download.statusCode).toBe(200);
    const file = await stack.app.inject({
      method: 'GET',
      url: new URL(download.json<{ url: string }>().url).pathname,
    });
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-disposition']).toBe(
      'attachment; filename="durable-execution-v1.epub"',
    );
  });

  it('archives and unarchives, and filters the shelf by view', async () => {
    const { token } = await guestPurchase();
    await call('POST', '/v1/claims', token, {});
    const [item] = (await call('GET', '/v1/entitlements', token)).json<Shelf>().items;
    expect((await call('POST', `/v1/entitlements/${item!.id}/archive`, token)).json()).toEqual({
      id: item!.id,
      archived: true,
    });
    expect((await call('GET', '/v1/entitlements?view=all', token)).json<Shelf>().items).toEqual([]);
    expect(
      (await call('GET', '/v1/entitlements?view=archived', token))
        .json<Shelf>()
        .items.map((i) => i.id),
    ).toEqual([item!.id]);
    await call('DELETE', `/v1/entitlements/${item!.id}/archive`, token);
    expect(
      (await call('GET', '/v1/entitlements', token)).json<Shelf>().items.map((i) => i.archived),
    ).toEqual([false]);
    expect((await call('GET', '/v1/entitlements?view=sideways', token)).statusCode).toBe(400);
  });

  it('answers 404 alike for unknown and someone else’s entitlements, and 400 naming a bad format', async () => {
    const mine = await guestPurchase();
    const theirs = await guestPurchase();
    await call('POST', '/v1/claims', mine.token, {});
    await call('POST', '/v1/claims', theirs.token, {});
    const [their] = (await call('GET', '/v1/entitlements', theirs.token)).json<Shelf>().items;
    const [own] = (await call('GET', '/v1/entitlements', mine.token)).json<Shelf>().items;

    const foreign = await call('POST', `/v1/entitlements/${their!.id}/download-url`, mine.token, {
      format: 'pdf',
    });
    const unknown = await call(
      'POST',
      `/v1/entitlements/${randomUUID()}/download-url`,
      mine.token,
      { format: 'pdf' },
    );
    expect([foreign.statusCode, unknown.statusCode]).toEqual([404, 404]);
    expect(foreign.json()).toEqual(unknown.json());
    const bad = await call('POST', `/v1/entitlements/${own!.id}/download-url`, mine.token, {
      format: 'docx',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toContain('format');
  });

  it('refuses a download URL once the purchase is refunded, and a claim without a verified email', async () => {
    const { paymentIntentId, token, email } = await guestPurchase();
    await call('POST', '/v1/claims', token, {});
    const refundId = stripeTestId('re');
    await postSignedEvent(
      stack.app,
      buildChargeRefundedEvent({ paymentIntentId, refundId, amountRefunded: 2900 }),
      stack.webhookSecret,
    );
    await stack.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();
    const [item] = (await call('GET', '/v1/entitlements', token)).json<Shelf>().items;
    expect(item).toMatchObject({ status: 'revoked', downloadable: false });
    expect(
      (await call('POST', `/v1/entitlements/${item!.id}/download-url`, token, { format: 'pdf' }))
        .statusCode,
    ).toBe(403);

    const unverified = await issuer.token({ sub: 'auth0|someone', email, email_verified: false });
    expect((await call('POST', '/v1/claims', unverified, {})).statusCode).toBe(403);
  });

  it('claims through the single-use link in the receipt; used, expired and unknown links answer alike', async () => {
    const { paymentIntentId } = await guestPurchase();
    const receipt = (await purchaseRows(stack.db, paymentIntentId)).emails[0]!;
    const link = /Claim it here: (\S+)/.exec(receipt.text)![1]!;
    const token = new URL(link).pathname.split('/').at(-1)!;

    const click = await stack.app.inject({ method: 'GET', url: new URL(link).pathname });
    expect(click.statusCode).toBe(302);
    expect(click.headers.location).toBe(`${stack.config.STOREFRONT_URL}/claim?token=${token}`);
    const stored = await stack.db.selectFrom('claim_tokens').select('token_hash').execute();
    expect(stored.map((row) => row.token_hash)).not.toContain(token);

    // A new account under another (unverified) address: the link is the proof.
    const newcomer = await issuer.token({
      sub: `auth0|${randomBytes(6).toString('hex')}`,
      email: 'other@example.com',
    });
    expect((await call('POST', '/v1/claims', newcomer, { token })).json()).toEqual({ claimed: 1 });
    expect((await call('GET', '/v1/entitlements', newcomer)).json<Shelf>().items).toMatchObject([
      { status: 'active' },
    ]);

    const someoneElse = await issuer.token({ sub: 'auth0|late', email: 'late@example.com' });
    const reused = await call('POST', '/v1/claims', someoneElse, { token });
    const unknown = await call('POST', '/v1/claims', someoneElse, { token: 'x'.repeat(43) });
    expect([reused.statusCode, unknown.statusCode]).toEqual([404, 404]);
    expect(reused.json()).toEqual(unknown.json());

    const receiptOrder = receipt.order_id!;
    const { customer_id } = await stack.db
      .selectFrom('orders')
      .select('customer_id')
      .where('id', '=', receiptOrder)
      .executeTakeFirstOrThrow();
    const analytics = await stack.db
      .selectFrom('analytics_events')
      .select('name')
      .where('customer_id', '=', customer_id)
      .execute();
    expect(analytics.map((a) => a.name)).toEqual(
      expect.arrayContaining(['entitlement.claim_initiated', 'entitlement.claim_success']),
    );
  });

  it('resends fresh links through a resend workflow, at most three times an hour', async () => {
    const { paymentIntentId, token } = await guestPurchase();
    await call('POST', '/v1/claims', token, {});
    const [item] = (await call('GET', '/v1/entitlements', token)).json<Shelf>().items;
    for (let i = 1; i <= 3; i += 1) {
      const response = await call('POST', `/v1/entitlements/${item!.id}/resend-email`, token);
      expect(response.statusCode).toBe(202);
      await stack.temporal.workflow
        .getHandle(response.json<{ workflowId: string }>().workflowId)
        .result();
    }
    const limited = await call('POST', `/v1/entitlements/${item!.id}/resend-email`, token);
    expect(limited.statusCode).toBe(429);

    const emails = (await purchaseRows(stack.db, paymentIntentId)).emails.filter(
      (e) => e.kind === 'resend',
    );
    expect(emails.map((e) => e.idempotency_key.split(':').at(-1))).toEqual(['1', '2', '3']);
    expect(emails[0]!.text).toMatch(/PDF: http:\/\/localhost:3000\/downloads\/[A-Za-z0-9_-]{51}/);
  });
});
