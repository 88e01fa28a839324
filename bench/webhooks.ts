import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { performance } from 'node:perf_hooks';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { countJobsByStatus } from '../db/queries/outcomes.ts';
import { recordWebhookEvent } from '../db/queries/webhook-events.ts';
import { verifyStripeSignature } from '../gateway/signature.ts';
import { Cleanups } from '../stack/cleanups.ts';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import {
  isSuccess,
  runOpenLoad,
  signedWebhookRequest,
  STRIPE_WEBHOOK_PATH,
  type LoadRequest,
  type LoadSample,
} from '../stack/load.ts';
import { describeMachine, formatMarkdownTable } from '../stack/measurement-docs.ts';
import { buildPaymentIntentSucceededEvent } from '../stack/stripe-events.ts';
import {
  bootBenchStack,
  formatMs,
  formatTextTable,
  positiveNumber,
  progress,
  summarizeSamples,
  UsageError,
  writeBenchmarkSection,
  type LatencySummary,
} from './lib.ts';

// Enough requests for JIT compilation and pool connections to settle before anything counts.
const WARMUP_SECONDS = 3;
// A 60 s backlog at 100 req/s drains in a few minutes on a small machine; past this the
// duplicates run anyway and the report says the worker was still busy.
const DRAIN_TIMEOUT_MS = 10 * 60_000;
// Visibility counts are cheap, and a second is fine-grained next to a drain of minutes.
const DRAIN_POLL_MS = 1_000;
const REPORT_EVERY_SECONDS = 10;

const TARGET_OURS_P99_MS = 50;
const TARGET_DUPLICATE_P99_MS = 10;

interface WebhookBenchOptions {
  ratePerSecond: number;
  durationSeconds: number;
  dupDurationSeconds: number;
}

interface DrainResult {
  drained: boolean;
  seconds: number;
  stillRunning: number;
}

interface WebhookBenchResults {
  bare: LoadSample[];
  ours: LoadSample[];
  duplicates: LoadSample[];
  drain: DrainResult;
}

function parseWebhookArgs(args: string[]): WebhookBenchOptions {
  let values: { rate: string; duration: string; 'dup-duration': string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        rate: { type: 'string', default: '100' },
        duration: { type: 'string', default: '60' },
        'dup-duration': { type: 'string', default: '20' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return {
    ratePerSecond: positiveNumber('--rate', values.rate),
    durationSeconds: positiveNumber('--duration', values.duration),
    dupDurationSeconds: positiveNumber('--dup-duration', values['dup-duration']),
  };
}

/** A new purchase: its own event, payment intent and buyer email. */
function freshPurchasePayload(scenario: string, index: number): string {
  return JSON.stringify(
    buildPaymentIntentSucceededEvent({
      skus: [DEMO_SKU],
      email: `bench-${scenario}-${index}@example.com`,
    }),
  );
}

interface BareEventEnvelope {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  api_version?: string | null;
}

/**
 * The floor for any webhook endpoint on this stack: verify the signature over the raw body,
 * insert the inbox row, answer 200 — no audit row, no Temporal.
 */
function buildBareWebhookApp(db: Db, secrets: readonly string[]): FastifyInstance {
  const app = Fastify({ logger: false });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });
  app.post(STRIPE_WEBHOOK_PATH, async (request: FastifyRequest<{ Body: Buffer }>, reply) => {
    const header = request.headers['stripe-signature'];
    const check = verifyStripeSignature(
      request.body,
      typeof header === 'string' ? header : undefined,
      secrets,
    );
    if (!check.ok) return reply.code(400).send({ error: check.reason });
    const payload = request.body.toString('utf8');
    const event = JSON.parse(payload) as BareEventEnvelope;
    await recordWebhookEvent(db, {
      provider: 'stripe',
      event_id: event.id,
      type: event.type,
      api_version: event.api_version ?? null,
      livemode: event.livemode,
      event_created_at: new Date(event.created * 1000),
      payload,
      dispatched_at: null,
      processed_at: null,
      result: null,
      error: null,
      workflow_id: null,
    });
    return reply.code(200).send({ received: true });
  });
  return app;
}

async function startBareWebhookApp(
  cleanups: Cleanups,
  db: Db,
  secrets: readonly string[],
): Promise<string> {
  const app = buildBareWebhookApp(db, secrets);
  cleanups.add('bare webhook app', () => app.close());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  progress(`bare webhook app listening on ${url}`);
  return url;
}

/**
 * Waits until no fulfillment is still working through its steps (runs waiting on reminder
 * timers are done with their work), so one phase's backlog is not the next's.
 */
const WORKING_FULFILLMENTS =
  'ExecutionStatus="Running" AND FulfillmentStatus IN ("pending_storage", "pending_entitlement", "pending_email", "pending_retry")';

async function waitForWorkflowsToFinish(
  temporal: Client,
  signal: AbortSignal,
): Promise<DrainResult> {
  const startedAt = performance.now();
  let reportedAt = startedAt;
  for (;;) {
    const { count } = await temporal.workflow.count(WORKING_FULFILLMENTS);
    const now = performance.now();
    const seconds = (now - startedAt) / 1000;
    if (count === 0) return { drained: true, seconds, stillRunning: 0 };
    if (now - startedAt > DRAIN_TIMEOUT_MS) return { drained: false, seconds, stillRunning: count };
    if (now - reportedAt >= REPORT_EVERY_SECONDS * 1000) {
      progress(`waiting for the worker: ${count} workflows still running`);
      reportedAt = now;
    }
    await sleep(DRAIN_POLL_MS, undefined, { signal });
  }
}

function isDuplicateAck(body: string): boolean {
  try {
    return (JSON.parse(body) as { duplicate?: unknown }).duplicate === true;
  } catch {
    return false;
  }
}

/**
 * Warm-up on both endpoints, then bare on an idle stack, then ours (the worker runs its
 * workflows meanwhile), then — once the worker has finished them — redeliveries of ours.
 */
async function measureScenarios(
  urls: { ours: string; bare: string },
  secret: string,
  temporal: Client,
  options: WebhookBenchOptions,
  signal: AbortSignal,
): Promise<WebhookBenchResults> {
  const load = async (
    label: string,
    url: string,
    durationSeconds: number,
    buildRequest: (index: number) => LoadRequest,
  ): Promise<LoadSample[]> => {
    progress(`${label}: ${options.ratePerSecond} req/s for ${durationSeconds} s`);
    const samples = await runOpenLoad({
      label,
      url: `${url}${STRIPE_WEBHOOK_PATH}`,
      ratePerSecond: options.ratePerSecond,
      durationSeconds,
      buildRequest,
      signal,
      report: { everySeconds: REPORT_EVERY_SECONDS, log: progress },
    });
    signal.throwIfAborted();
    return samples;
  };
  const freshPurchases = (scenario: string) => (index: number) =>
    signedWebhookRequest(freshPurchasePayload(scenario, index), secret);

  await load('warm-up ours', urls.ours, WARMUP_SECONDS, freshPurchases('warmup-ours'));
  await waitForWorkflowsToFinish(temporal, signal);
  await load('warm-up bare', urls.bare, WARMUP_SECONDS, freshPurchases('warmup-bare'));

  const bare = await load('bare', urls.bare, options.durationSeconds, freshPurchases('bare'));

  const oursPayloads: string[] = [];
  const ours = await load('ours', urls.ours, options.durationSeconds, (index) => {
    const payload = freshPurchasePayload('ours', index);
    oursPayloads[index] = payload;
    return signedWebhookRequest(payload, secret);
  });

  progress('waiting for the worker to finish the workflows of ours');
  const drain = await waitForWorkflowsToFinish(temporal, signal);
  progress(
    drain.drained
      ? `worker finished in ${drain.seconds.toFixed(0)} s after the load`
      : `${drain.stillRunning} workflows still running; measuring duplicates anyway`,
  );

  const processed = ours.filter(isSuccess).map((sample) => oursPayloads[sample.index]!);
  if (processed.length === 0) throw new Error('ours accepted no event: nothing to redeliver');
  // Stripe signs every redelivery afresh, so the body repeats and the signature is new.
  const duplicates = await load('duplicates', urls.ours, options.dupDurationSeconds, (index) =>
    signedWebhookRequest(processed[index % processed.length]!, secret),
  );
  return { bare, ours, duplicates, drain };
}

/** `completed 120, pending_email 3`, or `none`. */
async function describeJobsByStatus(db: Db): Promise<string> {
  const rows = await countJobsByStatus(db);
  return rows.map((row) => `${row.status} ${row.jobs}`).join(', ') || 'none';
}

interface WebhookReport {
  options: WebhookBenchOptions;
  commandLine: string;
  measuredAt: string;
  machine: string;
  summaries: { ours: LatencySummary; bare: LatencySummary; duplicates: LatencySummary };
  duplicateAcks: number;
  drain: DrainResult;
  jobsByStatus: string;
}

const TABLE_HEADER = ['scenario', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors'];

function tableRows(report: WebhookReport): string[][] {
  const { ours, bare, duplicates } = report.summaries;
  return (
    [
      ['ours', ours],
      ['bare', bare],
      ['duplicates', duplicates],
    ] as const
  ).map(([name, summary]) => [
    name,
    String(summary.requests),
    formatMs(summary.p50Ms),
    formatMs(summary.p99Ms),
    formatMs(summary.maxMs),
    String(summary.non2xx),
    String(summary.errors),
  ]);
}

interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

function checkTargets({ ours, duplicates }: WebhookReport['summaries']): TargetCheck[] {
  const failed = ours.non2xx + ours.errors + duplicates.non2xx + duplicates.errors;
  return [
    {
      target: `ours p99 ≤ ${TARGET_OURS_P99_MS} ms (Temporal start in the path)`,
      measured: `${formatMs(ours.p99Ms)} ms`,
      met: ours.p99Ms <= TARGET_OURS_P99_MS,
    },
    {
      target: `duplicate p99 ≤ ${TARGET_DUPLICATE_P99_MS} ms`,
      measured: `${formatMs(duplicates.p99Ms)} ms`,
      met: duplicates.p99Ms <= TARGET_DUPLICATE_P99_MS,
    },
    {
      target: 'zero non-2xx from the api (ours + duplicates)',
      measured: String(failed),
      met: failed === 0,
    },
  ];
}

const p99Ratio = ({ ours, bare }: WebhookReport['summaries']): string =>
  `${(ours.p99Ms / bare.p99Ms).toFixed(1)}×`;

function drainNote({ drain }: WebhookReport): string {
  return drain.drained
    ? `The worker finished the workflows of ours ${drain.seconds.toFixed(0)} s after the load ended`
    : `${drain.stillRunning} workflows of ours were still running after ${drain.seconds.toFixed(0)} s; duplicates ran meanwhile`;
}

function sendLagNote({ summaries }: WebhookReport): string {
  return (['ours', 'bare', 'duplicates'] as const)
    .map(
      (name) =>
        `${name} p99 ${formatMs(summaries[name].sendLagP99Ms)} ms / max ${formatMs(summaries[name].sendLagMaxMs)} ms`,
    )
    .join('; ');
}

function printReport(report: WebhookReport): void {
  const lines = [
    '',
    formatTextTable(TABLE_HEADER, tableRows(report)),
    '',
    `ours p99 / bare p99: ${p99Ratio(report.summaries)}`,
    'targets:',
    ...checkTargets(report.summaries).map(
      (check) => `  ${check.target}: ${check.measured} — ${check.met ? 'met' : 'missed'}`,
    ),
    '',
    `duplicates acknowledged as duplicate: ${report.duplicateAcks} of ${report.summaries.duplicates.requests}`,
    `${drainNote(report)}; fulfillment jobs: ${report.jobsByStatus}`,
    `send lag behind schedule: ${sendLagNote(report)}`,
  ];
  console.log(lines.join('\n'));
}

function webhooksSection(report: WebhookReport): string {
  const { options } = report;
  const targets = checkTargets(report.summaries);
  return `
Measured ${report.measuredAt} on ${report.machine}.

\`\`\`sh
${report.commandLine}
\`\`\`

Open-loop load at ${options.ratePerSecond} req/s: each request leaves on schedule whether or not
earlier ones were answered, over keep-alive HTTP on 127.0.0.1. Latency runs from writing the
request to the end of the response body; percentiles are nearest-rank. Every event is a signed
\`payment_intent.succeeded\` for \`${DEMO_SKU}\` with its own buyer email.

- **ours** (${options.durationSeconds} s of distinct events) — the api as deployed (\`buildApp\`):
  verify the signature over the raw body, record the event and its audit row, start
  \`fulfillment-<payment intent>\` on Temporal, answer 200. The worker runs the workflows meanwhile.
- **bare** (${options.durationSeconds} s of distinct events, on an idle stack) — a minimal Fastify
  route: \`verifyStripeSignature\`, \`recordWebhookEvent\` into the same database, 200. The floor
  any webhook endpoint on this stack pays.
- **duplicates** (${options.dupDurationSeconds} s) — redeliveries, re-signed as Stripe does, of
  events ours already processed, sent once the worker has finished the workflows of ours.

Each endpoint first gets ${WARMUP_SECONDS} s of warm-up that is not counted. The load generator,
both apps and the worker share one Node process (as \`npm start\` runs them); PostgreSQL and
Temporal run on the same machine.

${formatMarkdownTable(TABLE_HEADER, tableRows(report))}

ours p99 / bare p99: **${p99Ratio(report.summaries)}**

${formatMarkdownTable(
  ['target', 'measured', 'result'],
  targets.map((check) => [check.target, check.measured, check.met ? 'met' : 'missed']),
)}

- Duplicates acknowledged as \`duplicate: true\`: ${report.duplicateAcks} of ${report.summaries.duplicates.requests}.
- ${drainNote(report)}; fulfillment jobs at the end: ${report.jobsByStatus}.
- Send lag behind the schedule (the load generator's own delay): ${sendLagNote(report)}.
`;
}

/**
 * `npm run bench -- webhooks`: boots the stack, measures ours, bare and duplicates, prints the
 * table and rewrites the `## webhooks` section of docs/BENCHMARKS.md.
 */
export async function runWebhookBenchmark(args: string[], signal: AbortSignal): Promise<void> {
  const options = parseWebhookArgs(args);
  const commandLine = ['npm run bench -- webhooks', ...args].join(' ');
  const measuredAt = new Date().toISOString();
  const cleanups = new Cleanups('bench');
  try {
    const stack = await bootBenchStack(cleanups, signal);
    const bareUrl = await startBareWebhookApp(
      cleanups,
      stack.db,
      stack.config.STRIPE_WEBHOOK_SECRETS,
    );
    const results = await measureScenarios(
      { ours: stack.apiUrl, bare: bareUrl },
      stack.webhookSecret,
      stack.temporal,
      options,
      signal,
    );
    const report: WebhookReport = {
      options,
      commandLine,
      measuredAt,
      machine: describeMachine(),
      summaries: {
        ours: summarizeSamples(results.ours),
        bare: summarizeSamples(results.bare),
        duplicates: summarizeSamples(results.duplicates),
      },
      duplicateAcks: results.duplicates.filter((sample) => isDuplicateAck(sample.body)).length,
      drain: results.drain,
      jobsByStatus: await describeJobsByStatus(stack.db),
    };
    printReport(report);
    await writeBenchmarkSection('webhooks', webhooksSection(report));
  } finally {
    progress('stopping the stack');
    await cleanups.runAll();
  }
}
