// One trace per purchase: the webhook request and its one-statement ack, the workflow start
// (right after the ack by the api's dispatcher, or later by the relay), the workflow's
// activities and the database, Stripe, storage and email calls they make — all in one trace, as
// an on-call engineer opens it in Jaeger or Tempo. Spans are collected by an in-memory exporter
// installed the way the entry points install theirs (startTracing).
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.ts';
import { findWebhookEvent } from '../../db/queries/webhook-events.ts';
import { relayDueEvents } from '../../gateway/relay.ts';
import { createStripeClient } from '../../drivers/stripe.ts';
import { startTracing, type Tracing } from '../../observability/tracing.ts';
import { Cleanups } from '../../stack/cleanups.ts';
import { startLocalComponents } from '../../stack/deployed-stack.ts';
import { appDepsFromConfig } from '../../scripts/lib/app-options.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { lazyTemporalClient } from '../../temporal/client.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import type { FastifyInstance } from 'fastify';
import { signStripePayload } from '../../stack/stripe-events.ts';

const exporter = new InMemorySpanExporter();
let tracing: Tracing;
let stack: TestStack;

const cleanups = new Cleanups('trace test');

beforeAll(async () => {
  // Before the worker starts: its workflow span sink exports into this process's tracing.
  tracing = startTracing({ exporter: 'none', serviceName: 'trace-test', spanExporter: exporter });
  // A Temporal server and database of this file's own: on the suite's shared server another
  // file's worker could run this purchase's tasks, and its spans would be exported there.
  const own = await startLocalComponents(cleanups, { name: 'trace' });
  stack = await startTestStack({
    env: {
      DATABASE_URL: own.databaseUrl,
      TEMPORAL_ADDRESS: own.devServer.address,
      PAYLOAD_ENCRYPTION_KEYS: own.payloadKeys,
      STORAGE_LOCAL_DIR: own.storageDir,
    },
  });
}, 180_000);
afterAll(async () => {
  await stack?.close();
  await cleanups.runAll();
  await tracing?.shutdown();
});

/** Every finished span of `traceId`, once the receipt went out and the spans were flushed. */
async function spansOfTrace(traceId: string): Promise<ReadableSpan[]> {
  await tracing.forceFlush();
  return exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === traceId);
}

const names = (spans: readonly ReadableSpan[]): string[] => [...new Set(spans.map((s) => s.name))];

/** Posts a signed event as Stripe would, with a request id to find its span by. */
async function postWebhook(app: FastifyInstance, event: unknown, requestId: string) {
  const payload = JSON.stringify(event);
  return app.inject({
    method: 'POST',
    url: '/webhooks/stripe',
    headers: {
      'content-type': 'application/json',
      'stripe-signature': signStripePayload(payload, stack.webhookSecret),
      'x-request-id': requestId,
    },
    payload,
  });
}

/** The `POST /webhooks/stripe` server span of the request that carried `requestId`. */
function webhookSpan(requestId: string): ReadableSpan {
  const span = exporter
    .getFinishedSpans()
    .find(
      (s) =>
        s.name === 'POST /webhooks/stripe' && s.attributes['fulfillment.request_id'] === requestId,
    );
  expect(span, `the server span of request ${requestId}`).toBeDefined();
  return span!;
}

/** Waits until the receipt of `paymentIntentId` was sent (its email span has ended). */
async function receiptSent(paymentIntentId: string): Promise<void> {
  await settledFulfillment(stack.temporal, paymentIntentId);
  await waitFor('receipt sent', async () => {
    const rows = await purchaseRows(stack.db, paymentIntentId);
    return rows.emails.some((email) => email.kind === 'delivery' && email.status === 'sent');
  });
}

describe('one trace per purchase', () => {
  it('follows a purchase from the webhook through the workflow and every activity to the receipt email', async () => {
    // The buyer's email comes from the Stripe Customer: recordPurchase calls Stripe's API.
    const stripe = createStripeClient(stack.config.STRIPE_SECRET_KEY, stack.config.STRIPE_API_URL);
    const customer = await stripe.customers.create({ email: 'traced-buyer@example.com' });
    const paymentIntentId = stripeTestId('pi');
    const event = paymentSucceeded({ paymentIntentId, email: null, customerId: customer.id });
    const response = await postWebhook(stack.app, event, `trace-${paymentIntentId}`);
    expect(response.statusCode).toBe(200);
    await receiptSent(paymentIntentId);

    const root = webhookSpan(`trace-${paymentIntentId}`);
    expect(root.parentSpanId).toBeUndefined();
    // Found by the Stripe event id, or by the workflow id on the workflow start.
    expect(root.attributes['stripe.event_id']).toBe(event.id);
    const spans = await spansOfTrace(root.spanContext().traceId);
    const seen = names(spans);
    for (const expected of [
      // The request, its one-statement inbox write (the ack), and the workflow start the api's
      // dispatcher made right after it.
      'POST /webhooks/stripe',
      'INSERT webhook_events',
      'StartWorkflow:fulfillmentWorkflow',
      // The workflow scheduling each step (local activities before the receipt), and each
      // step running in the worker.
      'StartActivity:recordPurchase',
      'RunActivity:recordPurchase',
      'RunActivity:activateStoredEntitlements',
      'StartActivity:deliverOrder',
      'RunActivity:deliverOrder',
      // What the activities did: Stripe, storage, database and the email itself.
      'stripe GET /v1/customers/{id}',
      'storage exists',
      'INSERT customers',
      'SELECT entitlements',
      'INSERT email_deliveries',
      'email send',
    ])
      expect(seen, `the trace has ${expected}`).toContain(expected);

    // Parent links hold the trace together: every span but the root has its parent in it
    // (the workflow's own span ends with the run, days later, after its reminders).
    const ids = new Set(spans.map((span) => span.spanContext().spanId));
    const workflowRunParents = new Set(
      spans.filter((s) => s.name.startsWith('StartActivity:')).map((s) => s.parentSpanId),
    );
    const orphans = spans.filter(
      (span) =>
        span !== root &&
        !ids.has(span.parentSpanId ?? '') &&
        !workflowRunParents.has(span.parentSpanId),
    );
    expect(orphans.map((span) => span.name)).toEqual([]);
    expect(
      spans.find((span) => span.name === 'StartWorkflow:fulfillmentWorkflow')?.attributes[
        'temporalWorkflowId'
      ],
    ).toBe(`fulfillment-${paymentIntentId}`);
    const emailSpan = spans.find((span) => span.name === 'email send')!;
    expect(emailSpan.attributes['email.driver']).toBe('outbox');
    expect(JSON.stringify(spans.map((span) => span.attributes))).not.toContain(
      'traced-buyer@example.com',
    );
  });

  it('gives each start its own request’s trace when the dispatcher runs them one after another', async () => {
    // One dispatch lane: the second event's start runs when the first one's settles — in the
    // first one's async context. Only the stored traceparent puts it in its own trace.
    const oneLane = await buildApp({
      ...appDepsFromConfig(stack.config, stack.db, stack.temporal),
      webhook: { dispatchConcurrency: 1 },
      relay: undefined,
      devOutbox: false,
      logger: false,
    });
    const purchases = [stripeTestId('pi'), stripeTestId('pi')];
    const responses = await Promise.all(
      purchases.map((paymentIntentId) =>
        postWebhook(oneLane, paymentSucceeded({ paymentIntentId }), `lane-${paymentIntentId}`),
      ),
    );
    expect(responses.map((response) => response.statusCode)).toEqual([200, 200]);
    await oneLane.webhookDispatcher.idle();
    await oneLane.close();
    for (const paymentIntentId of purchases) await receiptSent(paymentIntentId);

    await tracing.forceFlush();
    for (const paymentIntentId of purchases) {
      const root = webhookSpan(`lane-${paymentIntentId}`);
      const start = exporter
        .getFinishedSpans()
        .find(
          (span) =>
            span.name === 'StartWorkflow:fulfillmentWorkflow' &&
            span.attributes['temporalWorkflowId'] === `fulfillment-${paymentIntentId}`,
        );
      expect(start?.spanContext().traceId, `the start of ${paymentIntentId}`).toBe(
        root.spanContext().traceId,
      );
      expect(start?.parentSpanId).toBe(root.spanContext().spanId);
    }
  });

  it('continues the request’s trace when the relay starts the workflow later', async () => {
    // An api whose Temporal is unreachable: the event is recorded (200), the api's own
    // dispatch fails, and the row waits for the relay.
    const unreachable = lazyTemporalClient({
      ...temporalTargetFromConfig(stack.config),
      address: `127.0.0.1:${await getFreePort()}`,
    });
    const offline = await buildApp({
      ...appDepsFromConfig(stack.config, stack.db, unreachable),
      relay: undefined,
      devOutbox: false,
      logger: false,
    });
    const paymentIntentId = stripeTestId('pi');
    const event = paymentSucceeded({ paymentIntentId });
    const response = await postWebhook(offline, event, `relay-${paymentIntentId}`);
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ result: 'pending' });
    await offline.webhookDispatcher.idle();
    await offline.close();
    // After the file: the failed start's own retries end at its deadline.
    cleanups.add('unreachable client', () => unreachable.connection.close());

    const row = await findWebhookEvent(stack.db, 'stripe', event.id);
    expect(row).toMatchObject({ result: null, dispatch_attempts: 1 });
    expect(row?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // The relay's own pass, outside any request, once the row's backoff ran out: it claims the
    // row and dispatches it with the stored trace context.
    await waitFor('the relay dispatched the event', async () => {
      await relayDueEvents(stack.db, stack.temporal, {
        batchSize: 10,
        concurrency: 1,
        leaseSeconds: 30,
      });
      const settled = await findWebhookEvent(stack.db, 'stripe', event.id);
      return settled?.result === 'processed' && settled.dispatched_by === 'relay';
    });
    await receiptSent(paymentIntentId);

    const root = webhookSpan(`relay-${paymentIntentId}`);
    expect(row!.traceparent).toContain(root.spanContext().traceId);
    const spans = await spansOfTrace(root.spanContext().traceId);
    const seen = names(spans);
    for (const expected of [
      'POST /webhooks/stripe',
      'StartWorkflow:fulfillmentWorkflow',
      'RunActivity:recordPurchase',
      'RunActivity:deliverOrder',
      'email send',
    ])
      expect(seen, `the trace has ${expected}`).toContain(expected);
  });
});
