import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminTimelineResponse } from '../../api/routes/admin-schemas.ts';
import { createStorage } from '../../scripts/lib/services.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import {
  auditOf,
  linksOf,
  OPERATOR_TOKENS,
  operators,
  purchase,
  waitForEmails,
} from './support.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { OPERATOR_TOKENS } });
});
afterAll(async () => {
  await stack?.close();
});

const call = (method: 'GET' | 'POST', url: string, token: string | null, payload?: object) =>
  stack.app.inject({
    method,
    url,
    headers: token ? { authorization: `Bearer ${token}` } : {},
    ...(payload ? { payload } : {}),
  });
const admin = operators.admin.token;
const support = operators.support.token;

describe('admin API authentication', () => {
  it('answers 401 without or with an unknown token, and 403 when the role is too low', async () => {
    expect((await call('GET', '/admin/jobs', null)).statusCode).toBe(401);
    const unknown = await call('GET', '/admin/jobs', randomBytes(24).toString('hex'));
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual({ error: 'a valid operator token is required' });
    expect((await call('GET', '/admin/jobs', support)).statusCode).toBe(200);
    const grant = await call('POST', '/admin/entitlements', support, {
      email: 'x@example.com',
      skus: ['ebook-durable-execution'],
      reason: 'comp',
    });
    expect(grant.statusCode).toBe(403);
    expect(grant.json<{ error: string }>().error).toMatch(/admin role is required/);
  });

  it('names the missing reason with 400 and changes nothing', async () => {
    const { paymentIntentId } = await purchase(stack);
    const response = await call('POST', `/admin/entitlements/${paymentIntentId}/revoke`, admin, {});
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: string }>().error).toMatch(/reason/);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.entitlements.map((e) => e.status)).toEqual(['pending_claim']);
  });
});

describe('admin API', () => {
  it('finds a purchase by email and shows one timeline with the Temporal UI link', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const search = await call(
      'GET',
      `/admin/jobs?email=${encodeURIComponent(email.toUpperCase())}`,
      support,
    );
    expect(search.statusCode).toBe(200);
    expect(search.json()).toMatchObject({
      items: [{ paymentIntentId, email, status: 'completed' }],
      hasMore: false,
    });

    const shown = await call('GET', `/admin/jobs/${paymentIntentId}`, support);
    expect(shown.statusCode).toBe(200);
    const timeline = shown.json<unknown>();
    expect(adminTimelineResponse.safeParse(timeline).error).toBeUndefined();
    expect(timeline).toMatchObject({
      paymentIntentId,
      email,
      status: 'completed',
      temporalUrl: `http://localhost:8233/namespaces/default/workflows/fulfillment-${paymentIntentId}`,
    });
    const events = (timeline as { timeline: { source: string; event: string }[] }).timeline.map(
      (e) => `${e.source}:${e.event}`,
    );
    expect(events).toEqual(
      expect.arrayContaining([
        'webhook:payment_intent.succeeded',
        'job:pending_storage',
        'job:completed',
        'email:delivery sent',
      ]),
    );
    expect(events.indexOf('webhook:payment_intent.succeeded')).toBeLessThan(
      events.indexOf('job:completed'),
    );
    expect((await call('GET', '/admin/jobs/pi_does_not_exist', support)).statusCode).toBe(404);
  });

  it('lets support resend links past the buyer’s hourly limit, each resend audited', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    for (let n = 1; n <= 4; n += 1) {
      const response = await call(
        'POST',
        `/admin/entitlements/${paymentIntentId}/resend`,
        support,
        {
          reason: `buyer lost the email (${n})`,
        },
      );
      expect(response.statusCode).toBe(202);
      expect(response.json()).toMatchObject({ recipient: email, sequence: n });
    }
    await waitForEmails(stack, paymentIntentId, 'resend', 4);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.emails.filter((e) => e.kind === 'resend')).toHaveLength(4);
    const audit = await auditOf(stack, rows.orders[0]!.id);
    expect(audit.filter((a) => a.action === 'links.resent')).toHaveLength(4);
    expect(audit[0]).toMatchObject({ actor: 'bob', reason: 'buyer lost the email (1)' });
  });

  it('revokes (links die, job revoked) and restores (links work again), each audited', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [link] = await linksOf(stack, paymentIntentId);
    expect((await stack.app.inject({ method: 'GET', url: link! })).statusCode).toBe(302);

    const revoked = await call('POST', `/admin/entitlements/${paymentIntentId}/revoke`, admin, {
      reason: 'chargeback fraud ring',
    });
    expect(revoked.statusCode).toBe(200);
    expect(revoked.json()).toMatchObject({
      status: 'revoked',
      previous: ['pending_claim'],
      remindersStopped: true,
    });
    expect(revoked.json<{ cancellationWorkflowId: string }>().cancellationWorkflowId).toMatch(
      /^revoke-order-/,
    );
    expect((await stack.app.inject({ method: 'GET', url: link! })).statusCode).toBe(403);
    // Like a refund, the revocation tells the buyer: one cancellation email.
    await waitForEmails(stack, paymentIntentId, 'cancellation', 1);
    let rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.jobs[0]!.status).toBe('revoked');
    // Reminders stop: the run leaves its reminder phase.
    await settledFulfillment(stack.temporal, paymentIntentId);

    const again = await call('POST', `/admin/entitlements/${paymentIntentId}/revoke`, admin, {
      reason: 'double click',
    });
    // Revoking again is harmless: the same once-per-order run, no second email.
    expect(again.json()).toMatchObject({
      status: 'revoked',
      previous: ['revoked'],
      cancellationWorkflowId: revoked.json<{ cancellationWorkflowId: string }>()
        .cancellationWorkflowId,
    });

    const restored = await call(
      'POST',
      `/admin/entitlements/${rows.entitlements[0]!.id}/restore`,
      admin,
      {
        reason: 'false positive',
      },
    );
    expect(restored.statusCode).toBe(200);
    expect(restored.json()).toMatchObject({ status: 'pending_claim' });
    expect((await stack.app.inject({ method: 'GET', url: link! })).statusCode).toBe(302);
    rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.jobs[0]!.status).toBe('completed');
    expect(
      (await auditOf(stack, rows.orders[0]!.id)).map((a) => [a.actor, a.action, a.reason]),
    ).toEqual([
      ['alice', 'entitlement.revoked', 'chargeback fraud ring'],
      ['alice', 'entitlement.revoked', 'double click'],
      ['alice', 'entitlement.restored', 'false positive'],
    ]);
    expect(rows.emails.filter((e) => e.kind === 'cancellation')).toHaveLength(1);
  });

  it('grants a product without payment: a reward-like order, entitlement and receipt', async () => {
    const email = `comp-${randomBytes(4).toString('hex')}@example.com`;
    const response = await call('POST', '/admin/entitlements', admin, {
      email,
      skus: ['ebook-idempotency-field-guide'],
      reason: 'conference speaker comp',
    });
    expect(response.statusCode).toBe(202);
    const { purchaseKey } = response.json<{ purchaseKey: string }>();
    await settledFulfillment(stack.temporal, purchaseKey);
    const rows = await purchaseRows(stack.db, purchaseKey);
    expect(rows.orders[0]).toMatchObject({ source: 'reward', amount_total: null });
    expect(rows.entitlements.map((e) => e.status)).toEqual(['pending_claim']);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', recipient: email }]);
    expect(await auditOf(stack, purchaseKey)).toMatchObject([
      { actor: 'alice', action: 'entitlement.granted', reason: 'conference speaker comp' },
    ]);
    const unknown = await call('POST', '/admin/entitlements', admin, {
      email,
      skus: ['no-such-sku'],
      reason: 'typo',
    });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json<{ error: string }>().error).toMatch(
      /skus: not in the catalog: no-such-sku/,
    );
  });

  it('imports a catalog only when every product is valid, then retries a job that needed it', async () => {
    const suffix = randomBytes(4).toString('hex');
    const sku = `ebook-ops-${suffix}`;
    // A purchase of a SKU the catalog does not know yet ends in needs_attention.
    const { paymentIntentId } = await purchase(stack, [sku]);
    expect((await purchaseRows(stack.db, paymentIntentId)).jobs[0]!.status).toBe('needs_attention');

    const product = {
      sku,
      slug: `ops-${suffix}`,
      title: 'Operating Durable Systems',
      version: 'v3',
      formats: ['pdf'],
      stripe_price_id: `price_ops_${suffix}`,
    };
    const invalid = await call('POST', '/admin/catalog/import', admin, {
      reason: 'new title',
      catalog: {
        products: [product, { ...product, sku: `${sku}-free`, stripe_price_id: null }],
      },
    });
    expect(invalid.statusCode).toBe(400);
    const problems = invalid.json<{ problems: string[] }>().problems;
    expect(problems).toEqual([
      expect.stringContaining(`ebooks/ops-${suffix}/v3/file.pdf is missing from storage`),
      expect.stringContaining('stripe_price_id is required for a purchasable product'),
      expect.stringContaining(`ebooks/ops-${suffix}/v3/file.pdf is missing from storage`),
    ]);
    expect(
      await stack.db.selectFrom('products').select('sku').where('sku', '=', sku).execute(),
    ).toEqual([]);

    await createStorage(stack.config).put(
      `ebooks/ops-${suffix}/v3/file.pdf`,
      new TextEncoder().encode('pdf'),
    );
    const imported = await call('POST', '/admin/catalog/import', admin, {
      reason: 'new title',
      catalog: { products: [product] },
    });
    expect(imported.statusCode).toBe(200);
    expect(imported.json()).toMatchObject({ products: [{ sku, change: 'created' }] });

    const retried = await call('POST', `/admin/jobs/${paymentIntentId}/retry`, admin, {
      reason: 'catalog fixed',
    });
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toMatchObject({ action: 'started', workflowStatusBefore: 'FAILED' });
    await settledFulfillment(stack.temporal, paymentIntentId);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.jobs[0]!.status).toBe('completed');
    expect(rows.emails.map((e) => e.kind)).toEqual(['delivery']);

    const twice = await call('POST', `/admin/jobs/${paymentIntentId}/retry`, admin, {
      reason: 'again',
    });
    expect(twice.json()).toMatchObject({ action: 'none' });
  });

  it('lists and replays webhook events', async () => {
    const { paymentIntentId } = await purchase(stack);
    const list = await call('GET', '/admin/webhook-events?limit=50', support);
    expect(list.statusCode).toBe(200);
    const event = list
      .json<{ items: { eventId: string; workflowId: string | null; outcome: string }[] }>()
      .items.find((e) => e.workflowId === `fulfillment-${paymentIntentId}`);
    expect(event).toBeDefined();
    // The purchase's outcome, from its fulfillment job: the list filters on it too.
    expect(event!.outcome).toBe('fulfilled');
    const fulfilled = await call('GET', '/admin/webhook-events?status=fulfilled&limit=50', support);
    expect(
      fulfilled.json<{ items: { eventId: string }[] }>().items.map((e) => e.eventId),
    ).toContain(event!.eventId);
    const replay = await call('POST', `/admin/webhook-events/${event!.eventId}/replay`, admin, {
      reason: 'check idempotency',
      dry_run: true,
    });
    expect(replay.statusCode).toBe(200);
    expect(replay.json()).toMatchObject({
      workflowStatus: 'RUNNING',
      change: 'none: the workflow is running',
    });
    const real = await call('POST', `/admin/webhook-events/${event!.eventId}/replay`, admin, {
      reason: 'support ticket 99',
    });
    expect(real.statusCode).toBe(200);
    expect(
      (await auditOf(stack, event!.eventId)).map((a) => [a.actor, a.action, a.reason]),
    ).toEqual(expect.arrayContaining([['alice', 'webhook.replayed', 'support ticket 99']]));
    expect((await purchaseRows(stack.db, paymentIntentId)).emails).toHaveLength(1);
  });
});
