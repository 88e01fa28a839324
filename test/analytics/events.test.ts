// Analytics that leave the building: a purchase and a download record complete events
// (customer, order, entitlement, product) in analytics_events, and the worker's outbox relay
// delivers them to Segment's batch API (the stand-in) — again after Segment was down.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSegmentStandIn, type SegmentStandIn } from '../../stack/segment-stand-in.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { waitFor } from '../../stack/processes.ts';
import { startAnalyticsExport } from '../../worker/operations.ts';
import type { OutboxRelay } from '../../worker/outbox-relay.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

let segment: SegmentStandIn;
let stack: TestStack;
let relay: OutboxRelay;

beforeAll(async () => {
  segment = await startSegmentStandIn({ writeKey: 'wk_events_test_0123' });
  stack = await startTestStack({
    env: {
      ANALYTICS_SINK: 'segment',
      SEGMENT_WRITE_KEY: segment.writeKey,
      SEGMENT_API_URL: segment.url,
      WORKER_METRICS_PORT: '0',
    },
  });
  // What a worker process runs beside the worker for analytics (worker/operations.ts). Not the
  // whole of startWorkerOperations: its schedules would run scans on the suite's shared Temporal.
  relay = startAnalyticsExport(stack.config, stack.db);
});
afterAll(async () => {
  await relay?.stop();
  await stack?.close();
  await segment?.close();
});

/** A fulfilled purchase of two products, its rows and its emailed links. */
async function purchase() {
  const paymentIntentId = stripeTestId('pi');
  const response = await postSignedEvent(
    stack.app,
    paymentSucceeded({
      paymentIntentId,
      email: `${paymentIntentId}@example.com`,
      skus: ['ebook-durable-execution', 'course-webhooks-workbook'],
    }),
    stack.webhookSecret,
  );
  expect(response.statusCode).toBe(200);
  await settledFulfillment(stack.temporal, paymentIntentId);
  await waitFor('analytics recorded', async () => {
    const rows = await purchaseRows(stack.db, paymentIntentId);
    return rows.jobs.some((job) => job.status === 'completed');
  });
  const rows = await purchaseRows(stack.db, paymentIntentId);
  const order = rows.orders[0]!;
  const links = [...rows.emails[0]!.text.matchAll(/(PDF|EPUB): (\S+)/g)].map(
    (m) => new URL(m[2]!).pathname,
  );
  return { paymentIntentId, order, rows, links };
}

const eventsOf = ({ orderId, name }: { orderId: string; name: string }) =>
  stack.db
    .selectFrom('analytics_events')
    .selectAll()
    .where('name', '=', name)
    .where('order_id', '=', orderId)
    .execute();

/** Waits until Segment has accepted a track call of `name` about `orderId`. */
const deliveredToSegment = (name: string, orderId: string) =>
  waitFor(
    `${name} of ${orderId} in Segment`,
    async () =>
      segment.accepted.some((call) => call.event === name && call.properties?.order_id === orderId),
    { timeoutMs: 30_000, intervalMs: 200 },
  );

describe('analytics events', () => {
  it('order.fulfilled and entitlement.granted name the customer, the order, each entitlement and product', async () => {
    const { order, rows } = await purchase();
    const [fulfilled] = await eventsOf({ orderId: order.id, name: 'order.fulfilled' });
    expect(fulfilled).toMatchObject({
      customer_id: order.customer_id,
      order_id: order.id,
      properties: {
        source: 'stripe',
        items: 2,
        skus: ['course-webhooks-workbook', 'ebook-durable-execution'],
      },
    });
    const granted = await eventsOf({ orderId: order.id, name: 'entitlement.granted' });
    expect(
      granted
        .map((e) => ({
          customer: e.customer_id,
          entitlement: e.entitlement_id,
          product: e.product_id,
        }))
        .sort((a, b) => a.entitlement!.localeCompare(b.entitlement!)),
    ).toEqual(
      rows.entitlements
        .map((e) => ({ customer: order.customer_id, entitlement: e.id, product: e.product_id }))
        .sort((a, b) => a.entitlement.localeCompare(b.entitlement)),
    );

    // And they leave the building: one track call each, with the same ids.
    await deliveredToSegment('order.fulfilled', order.id);
    await waitFor('both grants in Segment', async () =>
      rows.entitlements.every((e) =>
        segment.accepted.some(
          (call) =>
            call.event === 'entitlement.granted' &&
            call.properties?.entitlement_id === e.id &&
            call.properties.product_id === e.product_id &&
            call.userId === order.customer_id,
        ),
      ),
    );
    expect(segment.rejected).toEqual([]);
  });

  it('entitlement.download names the customer, the order, the entitlement and the product', async () => {
    const { order, rows, links } = await purchase();
    const click = await stack.app.inject({ method: 'GET', url: links[0]! });
    expect(click.statusCode).toBe(302);
    const downloads = await eventsOf({ orderId: order.id, name: 'entitlement.download' });
    expect(downloads).toHaveLength(1);
    const entitlement = rows.entitlements.find((e) => e.id === downloads[0]!.entitlement_id);
    expect(entitlement, 'the download names one of the order’s entitlements').toBeDefined();
    expect(downloads[0]).toMatchObject({
      customer_id: order.customer_id,
      order_id: order.id,
      product_id: entitlement!.product_id,
      properties: { format: 'pdf', source: 'email_link' },
    });
    await deliveredToSegment('entitlement.download', order.id);
  });

  it('waits out a Segment outage: the batch is retried and arrives once', async () => {
    // Segment answers 503 to the next deliveries; the outbox keeps the batch and tries again.
    segment.failNext(1, 503);
    const { order } = await purchase();
    await deliveredToSegment('order.fulfilled', order.id);
    // Segment has the call; the relay records the delivery once it reads Segment's answer.
    const outboxRow = () =>
      stack.db
        .selectFrom('outbox_messages')
        .selectAll()
        .where('topic', '=', 'analytics.segment')
        .where((eb) => eb('payload', '@>', JSON.stringify({ events: [{ order_id: order.id }] })))
        .execute();
    await waitFor('the batch recorded as delivered', async () =>
      (await outboxRow()).some((row) => row.delivered_at !== null),
    );
    const message = await outboxRow();
    expect(message).toHaveLength(1);
    expect(message[0]!.attempts).toBeGreaterThanOrEqual(2);
    expect(message[0]!.delivered_at).not.toBeNull();
    expect(
      segment.accepted.filter(
        (call) => call.event === 'order.fulfilled' && call.properties?.order_id === order.id,
      ),
    ).toHaveLength(1);
  });
});
