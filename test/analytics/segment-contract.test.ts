// Segment's HTTP Tracking API cannot run here: stack/segment-stand-in.ts stands in for it. These
// tests pin the stand-in to what Segment documents for POST /v1/batch, and our exporter to the
// requests Segment accepts (segment.com/docs/connections/sources/catalog/libraries/server/http-api).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSegmentExporter,
  SEGMENT_LIMITS,
  type ExportedAnalyticsEvent,
} from '../../drivers/analytics/segment.ts';
import { startSegmentStandIn, type SegmentStandIn } from '../../stack/segment-stand-in.ts';

let standIn: SegmentStandIn;
beforeAll(async () => {
  standIn = await startSegmentStandIn({ writeKey: 'wk_contract_test' });
});
afterAll(async () => {
  await standIn?.close();
});

let serial = 0;
const event = (overrides: Partial<ExportedAnalyticsEvent> = {}): ExportedAnalyticsEvent => ({
  event_key: `order.fulfilled:contract-${++serial}-${Date.now()}`,
  name: 'order.fulfilled',
  customer_id: '0b0f5a52-5f57-4a5e-9a57-3d1c8d5d0a01',
  order_id: '7d3c2f4e-1b0a-4c8e-9f65-2a1b3c4d5e6f',
  entitlement_id: null,
  product_id: null,
  properties: { amount: 1900, currency: 'eur' },
  created_at: '2026-12-01T10:00:00.000Z',
  ...overrides,
});

const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${standIn.url}/v1/batch`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from('wk_contract_test:').toString('base64')}`,
      ...headers,
    },
    body,
  });

const track = (messageId: string, extra: Record<string, unknown> = {}) => ({
  type: 'track',
  event: 'Song Played',
  userId: '019mr8mf4r',
  messageId,
  ...extra,
});

describe('the Segment stand-in, as Segment documents POST /v1/batch', () => {
  it('accepts the documented example batch with Basic auth (write key as user, empty password)', async () => {
    const response = await post(
      JSON.stringify({
        batch: [
          { type: 'identify', userId: '019mr8mf4r', traits: { name: 'Jake' }, messageId: 'doc-1' },
          track('doc-2', { properties: { name: 'Fallin for You' } }),
        ],
        context: { device: { type: 'phone' } },
      }),
    );
    expect(response.status).toBe(200);
    expect(standIn.accepted.map((c) => c.messageId)).toEqual(
      expect.arrayContaining(['doc-1', 'doc-2']),
    );
  });

  it('also takes the write key in the body', async () => {
    const response = await post(
      JSON.stringify({ batch: [track('body-key-1')], writeKey: 'wk_contract_test' }),
      { authorization: '' },
    );
    expect(response.status).toBe(200);
    expect(standIn.accepted.some((c) => c.messageId === 'body-key-1')).toBe(true);
  });

  it('answers 400 to invalid JSON and to a batch over 500 KB, and nothing is taken', async () => {
    const before = standIn.accepted.length;
    expect((await post('{"batch": [')).status).toBe(400);
    const big = Array.from({ length: 40 }, (_, i) =>
      track(`big-${i}`, { properties: { padding: 'x'.repeat(14 * 1024) } }),
    );
    expect((await post(JSON.stringify({ batch: big }))).status).toBe(400);
    expect(standIn.accepted.length).toBe(before);
  });

  it('answers 200 yet drops what Segment documents it drops', async () => {
    const response = await post(
      JSON.stringify({
        batch: [
          track('drop-oversize', { properties: { padding: 'x'.repeat(33 * 1024) } }),
          { type: 'track', event: 'No One', messageId: 'drop-no-user' },
          { type: 'track', userId: 'u1', messageId: 'drop-no-event' },
          { event: 'No Type', userId: 'u1', messageId: 'drop-no-type' },
          track('m'.repeat(100)),
          track('dedupe-1'),
          track('dedupe-1'),
        ],
      }),
    );
    expect(response.status).toBe(200);
    const reasons = Object.fromEntries(
      standIn.rejected.map((r): [string, string] => [
        String((r.call as { messageId?: string }).messageId),
        r.reason,
      ]),
    );
    expect(reasons).toMatchObject({
      'drop-oversize': 'call over 32 KB',
      'drop-no-user': 'no_user_anon_id',
      'drop-no-event': 'track call without event',
      'drop-no-type': 'no valid type',
      ['m'.repeat(100)]: 'messageId of 100 characters or more',
      'dedupe-1': 'duplicate messageId',
    });
    expect(standIn.accepted.filter((c) => c.messageId === 'dedupe-1')).toHaveLength(1);
  });

  it('drops every call of a batch of more than 2,500, and of a batch with an unknown write key', async () => {
    const many = Array.from({ length: 2_501 }, (_, i) => ({
      type: 'track',
      event: 'e',
      userId: 'u',
      messageId: `many-${i}`,
    }));
    expect((await post(JSON.stringify({ batch: many }))).status).toBe(200);
    const wrongKey = await post(JSON.stringify({ batch: [track('wrong-key-1')] }), {
      authorization: `Basic ${Buffer.from('wk_other:').toString('base64')}`,
    });
    expect(wrongKey.status).toBe(200);
    expect(
      standIn.accepted.some((c) => c.messageId === 'many-0' || c.messageId === 'wrong-key-1'),
    ).toBe(false);
  });

  it('rate limits with 429, Retry-After and X-RateLimit-Reset', async () => {
    standIn.failNext(1, 429);
    const response = await post(JSON.stringify({ batch: [track('limited-1')] }));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(response.headers.get('x-ratelimit-reset')).toBe('1');
  });
});

describe('our Segment exporter against the documented API', () => {
  const exporter = () =>
    createSegmentExporter({ writeKey: 'wk_contract_test', baseUrl: standIn.url });

  it('sends one documented batch request: Basic auth, JSON, track calls with ids and messageId', async () => {
    const fulfilled = event();
    const granted = event({
      name: 'entitlement.granted',
      entitlement_id: '5a1e2d3c-4b5a-4968-8776-655443322110',
      product_id: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a',
      properties: { sku: 'ebook-durable-execution' },
    });
    const rejectedBefore = standIn.rejected.length;
    await exporter()({ events: [fulfilled, granted] });

    const request = standIn.requests.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/batch');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.headers.authorization).toBe(
      `Basic ${Buffer.from('wk_contract_test:').toString('base64')}`,
    );
    const body = JSON.parse(request.body) as { batch: Record<string, unknown>[]; sentAt: string };
    expect(Number.isNaN(Date.parse(body.sentAt))).toBe(false);
    const [first, second] = body.batch;
    expect(first?.['messageId']).toMatch(/^[0-9a-f]{64}$/);
    expect(second?.['messageId']).toMatch(/^[0-9a-f]{64}$/);
    expect(first?.['messageId']).not.toBe(second?.['messageId']);
    expect(body.batch).toEqual([
      {
        type: 'track',
        event: 'order.fulfilled',
        userId: fulfilled.customer_id,
        messageId: first?.['messageId'],
        timestamp: '2026-12-01T10:00:00.000Z',
        properties: {
          amount: 1900,
          currency: 'eur',
          customer_id: fulfilled.customer_id,
          order_id: fulfilled.order_id,
          entitlement_id: null,
          product_id: null,
        },
      },
      {
        type: 'track',
        event: 'entitlement.granted',
        userId: granted.customer_id,
        messageId: second?.['messageId'],
        timestamp: '2026-12-01T10:00:00.000Z',
        properties: {
          sku: 'ebook-durable-execution',
          customer_id: granted.customer_id,
          order_id: granted.order_id,
          entitlement_id: granted.entitlement_id,
          product_id: granted.product_id,
        },
      },
    ]);
    expect(standIn.rejected.length).toBe(rejectedBefore);
  });

  it('sends a customer-less event with an anonymousId, so Segment keeps it', async () => {
    const rejectedBefore = standIn.rejected.length;
    const anonymous = event({ customer_id: null });
    await exporter()({ events: [anonymous] });
    const call = standIn.accepted.at(-1)!;
    expect(call.userId).toBeUndefined();
    expect(call.anonymousId).toBe(call.messageId);
    expect(standIn.rejected.length).toBe(rejectedBefore);
  });

  it('splits more than 2,500 events, and more than 500 KB, into batches Segment takes whole', async () => {
    const rejectedBefore = standIn.rejected.length;
    const requestsBefore = standIn.requests.length;
    const many = Array.from({ length: 2_600 }, () => event());
    await exporter()({ events: many });
    const heavy = Array.from({ length: 60 }, () =>
      event({ properties: { note: 'x'.repeat(20 * 1024) } }),
    );
    await exporter()({ events: heavy });
    const sent = standIn.requests.slice(requestsBefore);
    expect(sent.length).toBeGreaterThanOrEqual(4);
    for (const request of sent) {
      expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(SEGMENT_LIMITS.batchBytes);
      expect((JSON.parse(request.body) as { batch: unknown[] }).batch.length).toBeLessThanOrEqual(
        SEGMENT_LIMITS.callsPerBatch,
      );
    }
    expect(standIn.rejected.length).toBe(rejectedBefore);
  });

  it('fails on 429 and 5xx so the outbox retries, and a retry after success sends no duplicate', async () => {
    const batch = { events: [event(), event()] };
    standIn.failNext(1, 503);
    await expect(exporter()(batch)).rejects.toThrow(/segment answered 503/);
    standIn.failNext(1, 429);
    await expect(exporter()(batch)).rejects.toThrow(/segment answered 429 \(retry after 1 s\)/);
    await exporter()(batch);
    // The message is delivered again (a relay that died before marking it delivered).
    await exporter()(batch);
    const ids = standIn.accepted.map((c) => c.messageId);
    const mine = (JSON.parse(standIn.requests.at(-1)!.body) as { batch: { messageId: string }[] })
      .batch;
    for (const call of mine) expect(ids.filter((id) => id === call.messageId)).toHaveLength(1);
  });

  it('drops a call Segment could never accept (over 32 KB) instead of retrying it forever', async () => {
    const requestsBefore = standIn.requests.length;
    await exporter()({ events: [event({ properties: { note: 'x'.repeat(40 * 1024) } })] });
    expect(standIn.requests.length).toBe(requestsBefore);
  });
});
