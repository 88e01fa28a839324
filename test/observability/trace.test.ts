// One trace per purchase: the webhook request, the workflow start (now or later by the relay),
// the workflow's activities and the database, Stripe, storage and email calls they make — all
// in one trace, as an on-call engineer opens it in Jaeger or Tempo. Spans are collected by an
// in-memory exporter installed the way the entry points install theirs (startTracing).
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.ts';
import { findWebhookEvent } from '../../db/queries/webhook-events.ts';
import { dispatchRecordedEvent, isDispatchable } from '../../gateway/dispatch.ts';
import type { StripeEventEnvelope } from '../../gateway/ingest.ts';
import { routeStripeEvent } from '../../gateway/stripe-routing.ts';
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
      // The request, its inbox write and the workflow start it made.
      'POST /webhooks/stripe',
      'INSERT webhook_events',
      'StartWorkflow:fulfillmentWorkflow',
      // The workflow scheduling each activity, and each activity running in the worker.
      'StartActivity:recordPurchase',
      'RunActivity:recordPurchase',
      'RunActivity:verifyAssets',
      'RunActivity:activateEntitlements',
      'RunActivity:sendOrderEmail',
      'RunActivity:emitAnalytics',
      'RunActivity:completeJob',
      // What the activities did: Stripe, storage, database and the email itself.
      'stripe GET /v1/customers/{id}',
      'storage exists',
      'INSERT orders',
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

  it('continues the request’s trace when the relay starts the workflow later', async () => {
    // An api whose Temporal is unreachable: the event is recorded (200) and left to the relay.
    const unreachable = lazyTemporalClient({
      ...temporalTargetFromConfig(stack.config),
      address: `127.0.0.1:${await getFreePort()}`,
    });
    const offline = await buildApp({
      ...appDepsFromConfig(stack.config, stack.db, unreachable),
      relay: undefined,
      gapCheck: undefined,
      devOutbox: false,
      logger: false,
    });
    const paymentIntentId = stripeTestId('pi');
    const event = paymentSucceeded({ paymentIntentId });
    const response = await postWebhook(offline, event, `relay-${paymentIntentId}`);
    await offline.close();
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ result: 'pending' });

    const row = await findWebhookEvent(stack.db, 'stripe', event.id);
    expect(row?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    // The relay's own pass, outside any request: it dispatches from the row.
    const route = routeStripeEvent(row!.payload as StripeEventEnvelope);
    expect(isDispatchable(route)).toBe(true);
    if (!isDispatchable(route)) return;
    const outcome = await dispatchRecordedEvent(stack.db, stack.temporal, row!, route, 'relay');
    expect(outcome.result).toBe('processed');
    await receiptSent(paymentIntentId);

    const root = webhookSpan(`relay-${paymentIntentId}`);
    expect(row!.traceparent).toContain(root.spanContext().traceId);
    const seen = names(await spansOfTrace(root.spanContext().traceId));
    for (const expected of [
      'POST /webhooks/stripe',
      'StartWorkflow:fulfillmentWorkflow',
      'RunActivity:recordPurchase',
      'RunActivity:sendOrderEmail',
      'email send',
    ])
      expect(seen, `the trace has ${expected}`).toContain(expected);
  });
});
