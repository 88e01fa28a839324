import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { createActivities } from '../../activities/index.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import {
  buildPaymentIntentSucceededEvent,
  recordStripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { installTemporalRuntime } from '../../worker/runtime.ts';
import { tracingWorkerOptions } from '../../worker/tracing.ts';
import { startWorkerMetricsServer, type WorkerMetricsServer } from '../../worker/metrics-server.ts';
import {
  fulfillmentStatusQuery,
  fulfillmentWorkflowId,
  type FulfillmentInput,
} from '../../workflows/contracts.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

let stack: TestStack;
let metricsServer: WorkerMetricsServer;
let connection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
const taskQueue = `ops-metrics-test-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  // The SDK's own exporter, as the worker process installs it (before anything else does).
  const temporalMetricsAddress = `127.0.0.1:${await getFreePort()}`;
  installTemporalRuntime('WARN', temporalMetricsAddress);
  stack = await startTestStack();
  metricsServer = await startWorkerMetricsServer({ db: stack.db, port: 0, temporalMetricsAddress });
  // This file's own worker, so the observations land in this process's registry.
  connection = await NativeConnection.connect({ address: stack.config.TEMPORAL_ADDRESS });
  const dataConverter = temporalTargetFromConfig(stack.config).dataConverter;
  worker = await Worker.create({
    connection,
    namespace: stack.config.TEMPORAL_NAMESPACE,
    taskQueue,
    workflowBundle: { codePath: inject('workflowBundlePath') },
    ...(dataConverter ? { dataConverter } : {}),
    activities: createActivities(createActivityDeps(stack.config, stack.db)),
    ...tracingWorkerOptions(),
  });
  workerRun = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await workerRun;
  await connection?.close();
  await metricsServer?.close();
  await stack?.close();
});

async function apiMetrics(): Promise<string> {
  const response = await stack.app.inject({ method: 'GET', url: '/metrics' });
  expect(response.statusCode).toBe(200);
  return response.body;
}

async function workerMetrics(): Promise<string> {
  const response = await fetch(metricsServer.url);
  expect(response.status).toBe(200);
  return response.text();
}

/** `name{labels} value` samples of a Prometheus text exposition. */
function samples(text: string): { name: string; labels: string; value: number }[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
      return match ? { name: match[1]!, labels: match[2] ?? '', value: Number(match[3]) } : null;
    })
    .filter((sample) => sample !== null);
}

/** Every metric family a scrape declares (`# TYPE name …`) or carries as a sample. */
function metricNames(text: string): Set<string> {
  const names = new Set(samples(text).map((s) => s.name));
  for (const match of text.matchAll(/^# TYPE (\S+) /gm)) names.add(match[1]!);
  return names;
}

const METRIC_PATTERN =
  /\b(?:fulfillment|email|webhook|stripe|temporal|process|nodejs|http|downloads|analytics)_[a-z0-9_]+/g;

/** An expression's metric names: recorded series (`slo:…`, `email:…`) and label values aside. */
const metricsNamedIn = (expr: string): string[] =>
  [
    ...expr
      .replaceAll(/"[^"]*"/g, '""')
      .replaceAll(/\b[a-z_]+:[a-z0-9_:]+/g, '')
      .matchAll(METRIC_PATTERN),
  ].map((match) => match[0]);

describe('/metrics', () => {
  it('serves the fulfillment, webhook, email and Temporal SDK metrics on the api and the worker', async () => {
    // A purchase through the api's webhook (counted by type and result) …
    const viaApi = stripeTestId('pi');
    const response = await postSignedEvent(
      stack.app,
      paymentSucceeded({ paymentIntentId: viaApi }),
      stack.webhookSecret,
    );
    expect(response.statusCode).toBe(200);
    // Dispatched right after the ack (webhook_dispatch_seconds observed).
    await stack.app.webhookDispatcher.idle();
    // … and one fulfilled by this file's worker, whose receipt latency and send are observed here.
    const paymentIntentId = stripeTestId('pi');
    const event = buildPaymentIntentSucceededEvent({
      paymentIntentId,
      skus: ['ebook-durable-execution'],
    });
    await recordStripeEvent(stack.db, event);
    const input: FulfillmentInput = {
      source: 'stripe',
      purchaseKey: paymentIntentId,
      paymentIntentId,
      stripeEventId: event.id,
    };
    const handle = await stack.temporal.workflow.start('fulfillmentWorkflow', {
      taskQueue,
      workflowId: fulfillmentWorkflowId(paymentIntentId),
      args: [input],
    });
    await waitFor('reminding', async () => {
      return (await handle.query(fulfillmentStatusQuery)).phase === 'reminding';
    });

    const api = samples(await apiMetrics());
    expect(
      api.find(
        (s) =>
          s.name === 'webhook_events_total' && s.labels.includes('type="payment_intent.succeeded"'),
      )?.value,
    ).toBeGreaterThanOrEqual(1);
    // Per route, by pattern: the webhook answered 200 once at least.
    expect(
      api.find(
        (s) =>
          s.name === 'http_requests_total' &&
          s.labels.includes('route="/webhooks/stripe"') &&
          s.labels.includes('status_code="200"'),
      )?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      api.find(
        (s) =>
          s.name === 'http_request_duration_seconds_count' &&
          s.labels.includes('route="/webhooks/stripe"'),
      )?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      api.find(
        (s) => s.name === 'webhook_processing_total' && s.labels.includes('outcome="processed"'),
      )?.value,
    ).toBeGreaterThanOrEqual(1);
    // The gauge read from Postgres is the worker's alone: a sum across processes never doubles it.
    expect(api.find((s) => s.name === 'fulfillment_jobs_active')).toBeUndefined();
    expect(api.find((s) => s.name === 'fulfillment_jobs_failed_total')).toBeDefined();

    const text = await workerMetrics();
    const scraped = samples(text);
    expect(
      scraped.find((s) => s.name === 'fulfillment_latency_seconds_count')?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      scraped.find(
        (s) =>
          s.name === 'email_sends_total' &&
          s.labels.includes('driver="outbox"') &&
          s.labels.includes('result="sent"'),
      )?.value,
    ).toBeGreaterThanOrEqual(1);
    expect(
      scraped
        .filter((s) => s.name === 'fulfillment_jobs_active')
        .map((s) => s.labels)
        .sort(),
    ).toEqual([
      '{status="needs_attention"}',
      '{status="pending_email"}',
      '{status="pending_entitlement"}',
      '{status="pending_retry"}',
      '{status="pending_storage"}',
    ]);
    // The Temporal SDK's own metrics, proxied from its exporter.
    expect(
      scraped.find(
        (s) =>
          s.name === 'temporal_worker_task_slots_available' &&
          s.labels.includes('worker_type="ActivityWorker"'),
      ),
    ).toBeDefined();
    expect(scraped.find((s) => s.name === 'temporal_request_total')?.value).toBeGreaterThan(0);
    await handle.terminate('test done');
  });

  it('the alert rules and the dashboard parse, and every metric they name is on a live /metrics', async () => {
    const live = new Set([
      ...metricNames(await apiMetrics()),
      ...metricNames(await workerMetrics()),
    ]);

    type Rule =
      | { alert: string; expr: string; labels: { severity: string } }
      | { record: string; expr: string };
    const ruleList: Rule[] = [];
    for (const file of ['alerts.yml', 'slos.yml']) {
      const rules = parse(await readFile(`observability/prometheus/${file}`, 'utf8')) as {
        groups: { name: string; rules: Rule[] }[];
      };
      ruleList.push(...rules.groups.flatMap((group) => group.rules));
    }
    const alerts = ruleList.filter((rule) => 'alert' in rule);
    const recorded = new Set(ruleList.flatMap((rule) => ('record' in rule ? [rule.record] : [])));
    expect(alerts.length).toBeGreaterThanOrEqual(20);
    for (const rule of alerts) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^[A-Z][A-Za-z]+$/);
      expect(['warning', 'critical']).toContain(rule.labels.severity);
    }
    for (const rule of ruleList) expect(balanced(rule.expr), rule.expr).toBe(true);

    const dashboard = JSON.parse(
      await readFile('observability/grafana/fulfillment.json', 'utf8'),
    ) as {
      uid: string;
      panels: { title: string; targets: { expr: string }[] }[];
    };
    expect(dashboard.uid).toBe('fulfillment-orchestrator');
    const dashboardExprs = dashboard.panels.flatMap((panel) => {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      return panel.targets.map((target) => target.expr);
    });
    for (const expr of dashboardExprs) expect(balanced(expr), expr).toBe(true);

    // Recorded series a panel or an alert reads are recorded by some rule.
    const recordedNamed = [...ruleList.map((rule) => rule.expr), ...dashboardExprs].flatMap(
      (expr) => [...expr.replaceAll(/"[^"]*"/g, '""').matchAll(/\b[a-z_]+:[a-z0-9_:]+/g)],
    );
    expect(recordedNamed.map((match) => match[0]).filter((name) => !recorded.has(name))).toEqual(
      [],
    );

    const named = new Set(
      [...ruleList.map((rule) => rule.expr), ...dashboardExprs].flatMap(metricsNamedIn),
    );
    // What the issue asks to watch is named somewhere.
    for (const required of [
      'fulfillment_jobs_active',
      'fulfillment_jobs_failed_total',
      'fulfillment_latency_seconds_bucket',
      'webhook_events_total',
      'webhook_processing_total',
      'email_sends_total',
      'email_delivery_events_total',
      'http_requests_total',
      'http_request_duration_seconds_bucket',
      'downloads_total',
    ])
      expect(named).toContain(required);
    expect([...named].some((name) => name.startsWith('temporal_'))).toBe(true);
    const missing = [...named].filter((name) => !live.has(name));
    expect(missing).toEqual([]);
  });
});

/** Parentheses, brackets and braces pair up (a cheap guard against a broken edit). */
function balanced(expr: string): boolean {
  const stack: string[] = [];
  const pairs: Record<string, string> = { ')': '(', ']': '[', '}': '{' };
  for (const char of expr.replaceAll(/"[^"]*"/g, '')) {
    if ('([{'.includes(char)) stack.push(char);
    else if (char in pairs && stack.pop() !== pairs[char]) return false;
  }
  return stack.length === 0;
}
