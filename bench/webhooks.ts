import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { envSchema } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { countJobsByStatus } from '../db/queries/outcomes.ts';
import { readDispatchStats, type DispatchStats } from '../db/queries/webhook-events.ts';
import { Cleanups } from '../stack/cleanups.ts';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import { spawnRepoScript, startDeployedStack } from '../stack/deployed-stack.ts';
import { getFreePort, waitFor, type ManagedProcess } from '../stack/processes.ts';
import { describeMachine, formatMarkdownTable } from '../stack/measurement-docs.ts';
import {
  formatMs,
  formatTextTable,
  percentile,
  positiveNumber,
  progress,
  UsageError,
  writeBenchmarkSection,
} from './lib.ts';
import type { WebhookLoadPlan, WebhookLoadSample } from './webhook-load.ts';

const TARGET_ACK_P99_MS = 10;
const TARGET_ACK_RATIO = 2;
const TARGET_DUPLICATE_P99_MS = 10;
const TARGET_DISPATCH_LAG_P99_MS = 100;
// Every fulfillment of ours is started within seconds; minutes mean something is wrong.
const DISPATCH_WAIT_MS = 5 * 60_000;
// A second between backlog readings is fine-grained next to a run of minutes.
const BACKLOG_POLL_MS = 1_000;

interface WebhookBenchOptions {
  ratePerSecond: number;
  durationSeconds: number;
  sliceSeconds: number;
  saturateSeconds: number;
  dupDurationSeconds: number;
}

function parseWebhookArgs(args: string[]): WebhookBenchOptions {
  let values: Record<'rate' | 'duration' | 'slice' | 'saturate' | 'dup-duration', string>;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        rate: { type: 'string', default: '100' },
        duration: { type: 'string', default: '60' },
        slice: { type: 'string', default: '5' },
        saturate: { type: 'string', default: '15' },
        'dup-duration': { type: 'string', default: '20' },
      },
    }) as { values: typeof values });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  return {
    ratePerSecond: positiveNumber('--rate', values.rate),
    durationSeconds: positiveNumber('--duration', values.duration),
    sliceSeconds: positiveNumber('--slice', values.slice),
    saturateSeconds: positiveNumber('--saturate', values.saturate),
    dupDurationSeconds: positiveNumber('--dup-duration', values['dup-duration']),
  };
}

/** Fulfillments still working through their steps: the worker's backlog. */
const WORKING_FULFILLMENTS =
  'ExecutionStatus="Running" AND FulfillmentStatus IN ("pending_storage", "pending_entitlement", "pending_email", "pending_retry")';

/** Samples the worker's backlog until `stop` aborts; min and max seen. */
async function watchBacklog(temporal: Client, stop: AbortSignal) {
  const seen: number[] = [];
  while (!stop.aborted) {
    try {
      seen.push((await temporal.workflow.count(WORKING_FULFILLMENTS)).count);
    } catch {
      // A slow visibility answer under load is no reason to stop watching.
    }
    await sleep(BACKLOG_POLL_MS, undefined, { signal: stop }).catch(() => undefined);
  }
  return { min: Math.min(...seen), max: Math.max(...seen), readings: seen.length };
}

// Twice a second: enough samples over a run of minutes, nothing next to 100 starts/s.
const START_PROBE_MS = 500;
const IDLE_PROBES = 20;

/**
 * Times a workflow start on the stack's Temporal (a queue nothing polls: the start is the
 * whole cost), the call every dispatch waits on. Idle before the load, then until `stop`.
 */
async function probeStarts(temporal: Client, stop: AbortSignal | null, count = Infinity) {
  const latencies: number[] = [];
  for (let n = 0; n < count && !stop?.aborted; n += 1) {
    const started = performance.now();
    try {
      await temporal.workflow.start('benchStartProbe', {
        taskQueue: 'bench-start-probe',
        workflowId: `start-probe-${process.pid}-${Date.now()}-${n}`,
      });
      latencies.push(performance.now() - started);
    } catch {
      // A refused probe under load is not a start latency.
    }
    await sleep(START_PROBE_MS, undefined, stop ? { signal: stop } : {}).catch(() => undefined);
  }
  return latencies.sort((a, b) => a - b);
}

/** Starts the bare baseline as its own process on the stack's database. */
async function startBareServer(
  cleanups: Cleanups,
  databaseUrl: string,
  secret: string,
): Promise<string> {
  const port = await getFreePort();
  const bare: ManagedProcess = spawnRepoScript('bench/bare-webhook-server.ts', [], {
    cwd: process.cwd(),
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      STRIPE_WEBHOOK_SECRETS: secret,
      PORT: String(port),
    },
  });
  cleanups.add('bare webhook server', () => bare.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitFor('bare webhook server', async () => (await fetch(`${url}/healthz`)).ok, {
    abort: () => bare.exitReason(),
  });
  return url;
}

/** Runs the load generator as its own process and reads back its samples. */
async function runLoadGenerator(plan: WebhookLoadPlan, dir: string): Promise<WebhookLoadSample[]> {
  const planFile = path.join(dir, 'webhook-load-plan.json');
  const samplesFile = path.join(dir, 'webhook-load-samples.json');
  await writeFile(planFile, JSON.stringify(plan));
  const generator = spawnRepoScript('bench/webhook-load.ts', [planFile, samplesFile], {
    cwd: process.cwd(),
    env: process.env,
  });
  generator.child.stdout?.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) progress(line);
  });
  const [code] = (await once(generator.child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the load generator failed:\n${generator.recentOutput()}`);
  return JSON.parse(await readFile(samplesFile, 'utf8')) as WebhookLoadSample[];
}

interface AckSummary {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  non2xx: number;
  errors: number;
  sendLagP99Ms: number;
}

function summarize(samples: readonly WebhookLoadSample[]): AckSummary {
  const answered = samples.filter((sample) => sample.status !== null);
  const latencies = answered.map((sample) => sample.latencyMs).sort((a, b) => a - b);
  const lags = samples.map((sample) => sample.sendLagMs).sort((a, b) => a - b);
  return {
    requests: samples.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    non2xx: answered.filter((sample) => sample.status! < 200 || sample.status! >= 300).length,
    errors: samples.length - answered.length,
    sendLagP99Ms: percentile(lags, 99),
  };
}

/** Waits until every event ours acknowledged is dispatched (or the wait runs out). */
async function waitForDispatch(db: Db, eventIds: readonly string[]): Promise<DispatchStats> {
  const deadline = Date.now() + DISPATCH_WAIT_MS;
  for (;;) {
    const stats = await readDispatchStats(db, eventIds);
    if (stats.undispatched === 0 || Date.now() > deadline) return stats;
    progress(`${stats.undispatched} events of ours not dispatched yet`);
    await sleep(2_000);
  }
}

interface WebhookReport {
  options: WebhookBenchOptions;
  commandLine: string;
  measuredAt: string;
  machine: string;
  loadAverage: string;
  ours: AckSummary;
  bare: AckSummary;
  duplicates: AckSummary;
  duplicateAcks: number;
  dispatch: DispatchStats & { p50Ms: number; p99Ms: number; maxMs: number };
  backlog: { min: number; max: number; readings: number };
  /** Temporal start latency (ms, sorted) before the load and during it. */
  starts: { idle: number[]; loaded: number[] };
  dispatchConcurrency: number;
  jobsByStatus: string;
}

const TABLE_HEADER = ['scenario', 'requests', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors'];

function tableRows(report: WebhookReport): string[][] {
  return (
    [
      ['ours', report.ours],
      ['bare', report.bare],
      ['duplicates', report.duplicates],
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

function checkTargets(report: WebhookReport): TargetCheck[] {
  const { ours, bare, duplicates, dispatch } = report;
  const failed = ours.non2xx + ours.errors + duplicates.non2xx + duplicates.errors;
  return [
    {
      target: `ack p99 ≤ ${TARGET_ACK_P99_MS} ms`,
      measured: `${formatMs(ours.p99Ms)} ms`,
      met: ours.p99Ms <= TARGET_ACK_P99_MS,
    },
    {
      target: `ack p99 ≤ ${TARGET_ACK_RATIO}× bare p99`,
      measured: `${(ours.p99Ms / bare.p99Ms).toFixed(1)}×`,
      met: ours.p99Ms <= TARGET_ACK_RATIO * bare.p99Ms,
    },
    {
      target: `duplicate ack p99 ≤ ${TARGET_DUPLICATE_P99_MS} ms`,
      measured: `${formatMs(duplicates.p99Ms)} ms`,
      met: duplicates.p99Ms <= TARGET_DUPLICATE_P99_MS,
    },
    {
      target: `dispatch lag p99 ≤ ${TARGET_DISPATCH_LAG_P99_MS} ms (Temporal up)`,
      measured: `${formatMs(dispatch.p99Ms)} ms`,
      met: dispatch.p99Ms <= TARGET_DISPATCH_LAG_P99_MS,
    },
    {
      target: 'zero non-2xx from the api (ours + duplicates)',
      measured: String(failed),
      met: failed === 0,
    },
  ];
}

function notes(report: WebhookReport): string[] {
  const { dispatch, backlog } = report;
  return [
    `worker backlog during the run (fulfillments still working through their steps, read every second): ${backlog.min}–${backlog.max}`,
    `dispatch lag p50 ${formatMs(dispatch.p50Ms)} ms, max ${formatMs(dispatch.maxMs)} ms over ${dispatch.lagsMs.length} events; relay pickups: ${dispatch.byRelay}; left undispatched: ${dispatch.undispatched}`,
    `Temporal start latency (a probe every ${START_PROBE_MS} ms on the same dev server): idle p50 ${formatMs(percentile(report.starts.idle, 50))} ms, p99 ${formatMs(percentile(report.starts.idle, 99))} ms (${report.starts.idle.length} starts before the load); under the load p50 ${formatMs(percentile(report.starts.loaded, 50))} ms, p99 ${formatMs(percentile(report.starts.loaded, 99))} ms, max ${formatMs(report.starts.loaded.at(-1) ?? Number.NaN)} ms (${report.starts.loaded.length} starts)`,
    `dispatch capacity of the api at that start latency: ${report.dispatchConcurrency} in flight (WEBHOOK_DISPATCH_CONCURRENCY) ÷ p50 ${formatMs(percentile(report.starts.loaded, 50))} ms ≈ ${(report.dispatchConcurrency / (percentile(report.starts.loaded, 50) / 1000)).toFixed(0)} starts/s, against ${report.options.ratePerSecond} purchases/s offered in ours' slices`,
    `duplicates acknowledged as duplicate: ${report.duplicateAcks} of ${report.duplicates.requests}`,
    `send lag behind the schedule, p99: ours ${formatMs(report.ours.sendLagP99Ms)} ms, bare ${formatMs(report.bare.sendLagP99Ms)} ms, duplicates ${formatMs(report.duplicates.sendLagP99Ms)} ms`,
    `fulfillment jobs at the end: ${report.jobsByStatus}`,
  ];
}

function printReport(report: WebhookReport): void {
  console.log(
    [
      '',
      formatTextTable(TABLE_HEADER, tableRows(report)),
      '',
      'targets:',
      ...checkTargets(report).map(
        (check) => `  ${check.target}: ${check.measured} — ${check.met ? 'met' : 'missed'}`,
      ),
      '',
      ...notes(report),
    ].join('\n'),
  );
}

function webhooksSection(report: WebhookReport): string {
  const { options } = report;
  return `
Measured ${report.measuredAt} on ${report.machine}; load average (1, 5, 15 min) at the end:
${report.loadAverage}.

\`\`\`sh
${report.commandLine}
\`\`\`

Every process runs apart, as deployed: the api (\`scripts/api.ts\`) and the worker
(\`scripts/worker.ts\`) as child processes on a Temporal dev server and a throwaway PostgreSQL
database, the bare baseline (\`bench/bare-webhook-server.ts\`) as a process of its own on the
same database, and the load generator (\`bench/webhook-load.ts\`) as another. Load is
open-loop at ${options.ratePerSecond} req/s — each request leaves on schedule whether or not
earlier ones were answered — over keep-alive HTTP on 127.0.0.1; latency runs from writing the
request to the end of the response body; percentiles are nearest-rank. Every fresh event is a
signed \`payment_intent.succeeded\` for \`${DEMO_SKU}\` with its own buyer.

1. **Saturate** (${options.saturateSeconds} s, not counted): fresh purchases to ours only, so the
   worker has a backlog before anything is measured.
2. **Interleaved** (${options.durationSeconds} s each): ${options.sliceSeconds} s slices alternate
   between **bare** and **ours**, so both meet the same machine and the same saturated worker
   (ours keeps adding workflows to its backlog).
   - **ours** — the api as deployed: verify the signature over the raw body, write the inbox
     row and its audit row in one statement, answer 200; the workflow start follows the ack.
   - **bare** — a minimal Fastify route: verify the signature, insert the inbox row, answer
     200. No audit row, no security hooks, no Temporal: the floor any webhook endpoint here pays.
3. **Duplicates** (${options.dupDurationSeconds} s): redeliveries of events ours acknowledged,
   re-signed as Stripe does, right after — the worker still busy.

${formatMarkdownTable(TABLE_HEADER, tableRows(report))}

${formatMarkdownTable(
  ['target', 'measured', 'result'],
  checkTargets(report).map((check) => [check.target, check.measured, check.met ? 'met' : 'missed']),
)}

What each figure is:

- **ack p50/p99/max** — how long Stripe waits for our 2xx. Targets: p99 ≤ ${TARGET_ACK_P99_MS} ms and
  ≤ ${TARGET_ACK_RATIO}× the bare route's p99 measured in the same run.
- **duplicate ack p99** — a redelivery: the same one statement (it counts the delivery on the
  row already there and audits it), then 200. Target ≤ ${TARGET_DUPLICATE_P99_MS} ms.
- **dispatch lag** — per event of ours, \`dispatched_at − received_at\` of its inbox row (both the
  database's clock): from the commit of the ack's write to the settle statement after Temporal
  confirmed the start. Target p99 ≤ ${TARGET_DISPATCH_LAG_P99_MS} ms while Temporal is up.
- **relay pickups** — events of ours that the api which recorded them did not dispatch, so a
  relay claimed them after their lease (\`dispatched_by = 'relay'\`). Expected 0 with Temporal up.
- **non-2xx / errors** — answers outside 2xx, and requests that got no answer. Target: none.
- **send lag** — how late the load generator sent requests against its schedule (its own
  delay, not the api's); large values mean the machine, not the api, was the limit.

${notes(report)
  .map((line) => `- ${line.charAt(0).toUpperCase()}${line.slice(1)}.`)
  .join('\n')}
`;
}

/**
 * `npm run bench -- webhooks`: the deployed stack as processes, a bare baseline process and a
 * load generator process; measures ours and bare interleaved against a saturated worker, then
 * duplicates; reads the dispatch lag from the inbox; prints the report and rewrites the
 * `## webhooks` section of docs/BENCHMARKS.md.
 */
export async function runWebhookBenchmark(args: string[], signal: AbortSignal): Promise<void> {
  const options = parseWebhookArgs(args);
  const commandLine = ['npm run bench -- webhooks', ...args].join(' ');
  const measuredAt = new Date().toISOString();
  const cleanups = new Cleanups('bench');
  try {
    progress('starting PostgreSQL, Temporal, the api and the worker as separate processes');
    const stack = await startDeployedStack(cleanups, { name: 'bench_webhooks' });
    signal.throwIfAborted();
    const secret = stack.webhookSecrets[0]!;
    const bareUrl = await startBareServer(cleanups, stack.databaseUrl, secret);
    progress(`api ${stack.apiUrl}, bare ${bareUrl}`);

    progress(`timing ${IDLE_PROBES} workflow starts on the idle stack`);
    const idleStarts = await probeStarts(stack.temporal, null, IDLE_PROBES);
    const stopWatching = new AbortController();
    const backlog = watchBacklog(stack.temporal, stopWatching.signal);
    const loadedStarts = probeStarts(stack.temporal, stopWatching.signal);
    const samples = await runLoadGenerator(
      {
        oursUrl: stack.apiUrl,
        bareUrl,
        secret,
        ratePerSecond: options.ratePerSecond,
        saturateSeconds: options.saturateSeconds,
        durationSeconds: options.durationSeconds,
        sliceSeconds: options.sliceSeconds,
        dupDurationSeconds: options.dupDurationSeconds,
      },
      stack.dir,
    );
    stopWatching.abort();
    signal.throwIfAborted();

    const of = (target: WebhookLoadSample['target']) =>
      samples.filter((sample) => sample.target === target);
    const oursIds = of('ours')
      .filter((sample) => sample.status === 200)
      .map((sample) => sample.eventId);
    progress('waiting until every event of ours is dispatched');
    const dispatch = await waitForDispatch(stack.db, oursIds);
    const lags = [...dispatch.lagsMs].sort((a, b) => a - b);
    const report: WebhookReport = {
      options,
      commandLine,
      measuredAt,
      machine: describeMachine(),
      loadAverage: os
        .loadavg()
        .map((value) => value.toFixed(2))
        .join(', '),
      ours: summarize(of('ours')),
      bare: summarize(of('bare')),
      duplicates: summarize(of('duplicates')),
      duplicateAcks: of('duplicates').filter((sample) => sample.duplicateAck).length,
      dispatch: {
        ...dispatch,
        p50Ms: percentile(lags, 50),
        p99Ms: percentile(lags, 99),
        maxMs: lags.at(-1) ?? Number.NaN,
      },
      backlog: await backlog,
      starts: { idle: idleStarts, loaded: await loadedStarts },
      // What the api process read (the deployed stack passes this environment on).
      dispatchConcurrency: envSchema.shape.WEBHOOK_DISPATCH_CONCURRENCY.parse(
        process.env['WEBHOOK_DISPATCH_CONCURRENCY'],
      ),
      jobsByStatus:
        (await countJobsByStatus(stack.db)).map((row) => `${row.status} ${row.jobs}`).join(', ') ||
        'none',
    };
    if (stack.crashes.length > 0) progress(`unexpected exits: ${stack.crashes.join('; ')}`);
    printReport(report);
    await writeBenchmarkSection('webhooks', webhooksSection(report));
  } finally {
    progress('stopping the processes');
    await cleanups.runAll();
  }
}
