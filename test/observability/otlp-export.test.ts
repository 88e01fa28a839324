// The one switch, as deployed: the api and the worker processes (scripts/api.ts,
// scripts/worker.ts) with OTEL_TRACES_EXPORTER=otlp send their spans over OTLP/HTTP to
// OTEL_EXPORTER_OTLP_ENDPOINT, and a purchase is one trace across both processes. The receiver
// below records the export requests a collector (Jaeger, Tempo) would receive on /v1/traces.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanups } from '../../stack/cleanups.ts';
import { startDeployedStack, type DeployedStack } from '../../stack/deployed-stack.ts';
import { waitFor } from '../../stack/processes.ts';
import { buildPaymentIntentSucceededEvent, stripeTestId } from '../../stack/stripe-events.ts';

/** One exported span, flattened from OTLP/JSON (`resourceSpans → scopeSpans → spans`). */
interface ExportedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
}

interface OtlpJson {
  resourceSpans?: {
    resource?: { attributes?: { key: string; value: { stringValue?: string } }[] };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        attributes?: { key: string; value: Record<string, unknown> }[];
      }[];
    }[];
  }[];
}

const cleanups = new Cleanups('otlp export test');
const received: ExportedSpan[] = [];
const requests: { path: string; contentType: string | undefined }[] = [];
let stack: DeployedStack;

beforeAll(async () => {
  const receiver = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests.push({ path: request.url ?? '', contentType: request.headers['content-type'] });
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpJson;
      for (const resourceSpans of body.resourceSpans ?? []) {
        const service =
          resourceSpans.resource?.attributes?.find((a) => a.key === 'service.name')?.value
            .stringValue ?? '';
        for (const scope of resourceSpans.scopeSpans ?? [])
          for (const span of scope.spans ?? [])
            received.push({
              service,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              attributes: Object.fromEntries(
                (span.attributes ?? []).map((a) => [a.key, Object.values(a.value)[0]]),
              ),
            });
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  cleanups.add('otlp receiver', () => new Promise((resolve) => receiver.close(resolve)));
  const { port } = receiver.address() as AddressInfo;
  stack = await startDeployedStack(cleanups, {
    name: 'otlp',
    env: {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
      // Export within a fraction of a second instead of the default five.
      OTEL_BSP_SCHEDULE_DELAY: '200',
    },
  });
}, 180_000);
afterAll(async () => {
  await cleanups.runAll();
});

describe('OTLP export from the deployed api and worker', () => {
  it('sends one trace per purchase across both processes to the collector', async () => {
    const paymentIntentId = stripeTestId('pi');
    const event = buildPaymentIntentSucceededEvent({
      paymentIntentId,
      skus: ['ebook-durable-execution'],
    });
    expect(await stack.postEvent(event)).toBe(200);

    let trace: ExportedSpan[] = [];
    await waitFor(
      'the purchase’s spans from both processes',
      async () => {
        const root = received.find(
          (span) =>
            span.name === 'POST /webhooks/stripe' &&
            span.attributes['stripe.event_id'] === event.id,
        );
        trace = root ? received.filter((span) => span.traceId === root.traceId) : [];
        return trace.some((span) => span.name === 'email send');
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    expect(requests.every((r) => r.path === '/v1/traces')).toBe(true);
    expect(requests[0]?.contentType).toContain('application/json');

    const byService = (service: string) =>
      new Set(trace.filter((span) => span.service === service).map((span) => span.name));
    const api = byService('fulfillment-api');
    const worker = byService('fulfillment-worker');
    for (const name of [
      'POST /webhooks/stripe',
      'INSERT webhook_events',
      'StartWorkflow:fulfillmentWorkflow',
    ])
      expect(api, `api exported ${name}`).toContain(name);
    for (const name of [
      'StartActivity:recordPurchase',
      'RunActivity:recordPurchase',
      'RunActivity:activateStoredEntitlements',
      'RunActivity:deliverOrder',
      'storage exists',
      'email send',
    ])
      expect(worker, `worker exported ${name}`).toContain(name);
    // The start the api made names the purchase's workflow, whose activities the worker ran.
    const start = trace.find((span) => span.name === 'StartWorkflow:fulfillmentWorkflow')!;
    expect(start.attributes['temporalWorkflowId']).toBe(`fulfillment-${paymentIntentId}`);
  });
});
