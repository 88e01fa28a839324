// `npm run bench -- memory [--count 10000]`: the worker's resident memory with `--count` open
// fulfillments waiting on their reminder timer, against a bare worker holding as many
// workflows that only sleep on a timer.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { countJobsCompletedSince } from '../db/queries/outcomes.ts';
import { ingestStripeEvent } from '../gateway/ingest.ts';
import { envSchema } from '../config/env.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { Cleanups } from '../stack/cleanups.ts';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import {
  deployedProcessEnv,
  spawnRepoScript,
  startLocalComponents,
  WORKER_OLD_SPACE_MB,
  waitForPoller,
} from '../stack/deployed-stack.ts';
import { mapLimit } from '../stack/load.ts';
import { formatMarkdownTable } from '../stack/measurement-docs.ts';
import { getFreePort, type ManagedProcess } from '../stack/processes.ts';
import { buildPaymentIntentSucceededEvent, stripeTestId } from '../stack/stripe-events.ts';
import { writeWorkflowBundle } from '../stack/workflow-bundle.ts';
import type { bareTimerWorkflow } from './bare-workflow.ts';
import {
  measurementPreamble,
  formatTextTable,
  positiveNumber,
  progress,
  UsageError,
  writeBenchmarkSection,
} from './lib.ts';

const BARE_WORKFLOWS_PATH = fileURLToPath(new URL('./bare-workflow.ts', import.meta.url));
const BARE_WORKER = 'bench/bare-worker.ts';
const BARE_TASK_QUEUE = 'bench-bare-timers';
const TARGET_BYTES = 1024 ** 3;
// Workflow tasks finished, then this long with no new one: every workflow waits on its timer.
const QUIET_SECONDS = 5;
const REPORT_EVERY_MS = 15_000;

/** Resident and peak resident memory of a process, from /proc (Linux). */
function residentBytes(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
    if (!match) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(match[1]) * 1024;
  };
  return { rss: field('VmRSS'), peak: field('VmHWM') };
}

/** Sums the Prometheus series whose name is `name` (any labels) on the SDK's exporter. */
async function scrapeMetric(metricsUrl: string, name: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const [series, value] = line.split(/\s+/);
    if (series && (series === name || series.startsWith(`${name}{`))) total += Number(value);
  }
  return total;
}

// The SDK's own counters (worker/runtime.ts: `_total` suffix, seconds for durations).
const WORKFLOW_TASKS_DONE = 'temporal_workflow_task_execution_latency_count';
const STICKY_CACHE_SIZE = 'temporal_sticky_cache_size';

/**
 * Waits until the worker has finished a workflow task for every workflow (`atLeast`) and then
 * went `QUIET_SECONDS` without another one.
 */
async function waitForQuiet(
  metricsUrl: string,
  atLeast: number,
  label: string,
  signal: AbortSignal,
): Promise<void> {
  let last = -1;
  let quietSince = performance.now();
  let reportedAt = performance.now();
  for (;;) {
    const done = await scrapeMetric(metricsUrl, WORKFLOW_TASKS_DONE);
    if (done !== last) {
      last = done;
      quietSince = performance.now();
    } else if (done >= atLeast && performance.now() - quietSince > QUIET_SECONDS * 1000) return;
    if (performance.now() - reportedAt > REPORT_EVERY_MS) {
      progress(`${label}: ${done} workflow tasks done`);
      reportedAt = performance.now();
    }
    await sleep(500, undefined, { signal });
  }
}

interface WorkerFigures {
  label: string;
  count: number;
  rssBefore: number;
  rssAfter: number;
  /** VmHWM: the most the process was ever resident, read when all workflows wait. */
  peak: number;
  /** When the highest sampled VmRSS was seen: while starting, finishing or settling. */
  peakPhase: Phase;
  cached: number;
  /** From the first start to every workflow waiting on its timer. */
  seconds: number;
}

type Phase = 'idle' | 'starting' | 'finishing' | 'settling';
// Sampling once a second finds the phase of the peak; VmHWM itself catches it exactly.
const SAMPLE_EVERY_MS = 1_000;

async function spawnWorker(
  cleanups: Cleanups,
  temporal: Client,
  [script, ...args]: [string, ...string[]],
  env: NodeJS.ProcessEnv,
  taskQueue: string,
  cwd: string,
): Promise<{ worker: ManagedProcess; metricsUrl: string }> {
  const metricsPort = await getFreePort();
  const worker = spawnRepoScript(script, args, {
    cwd,
    env: {
      ...env,
      // Both workers capped as deploy/kubernetes/worker.yaml caps the worker.
      NODE_OPTIONS: [env['NODE_OPTIONS'], `--max-old-space-size=${WORKER_OLD_SPACE_MB}`]
        .filter(Boolean)
        .join(' '),
      // The SDK's exporter, which scripts/worker.ts turns on only with its own /metrics.
      TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
      WORKER_METRICS_HOST: '127.0.0.1',
      WORKER_METRICS_PORT: String(await getFreePort()),
    },
  });
  cleanups.add(`worker ${worker.child.pid}`, () => worker.stop());
  await waitForPoller(temporal, taskQueue, worker.child.pid!, { abort: () => worker.exitReason() });
  return { worker, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` };
}

async function measureWorker(
  signal: AbortSignal,
  label: string,
  count: number,
  spawned: { worker: ManagedProcess; metricsUrl: string },
  startAll: () => Promise<void>,
  reachedTimers: () => Promise<void>,
): Promise<WorkerFigures> {
  const pid = spawned.worker.child.pid!;
  await sleep(3_000);
  const before = residentBytes(pid);
  progress(`${label}: idle worker ${formatMiB(before.rss)} resident; starting ${count} workflows`);
  let phase: Phase = 'starting';
  let highest = { rss: before.rss, phase: 'idle' as Phase };
  const sampler = setInterval(() => {
    const { rss } = residentBytes(pid);
    if (rss > highest.rss) highest = { rss, phase };
  }, SAMPLE_EVERY_MS);
  const startedAt = performance.now();
  let after: { rss: number; peak: number };
  try {
    await startAll();
    phase = 'finishing';
    await reachedTimers();
    phase = 'settling';
    await waitForQuiet(spawned.metricsUrl, count, label, signal);
    after = residentBytes(pid);
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - startedAt) / 1000 - QUIET_SECONDS;
  const cached = await scrapeMetric(spawned.metricsUrl, STICKY_CACHE_SIZE);
  progress(`${label}: ${formatMiB(after.rss)} resident with ${count} open, ${cached} cached`);
  await spawned.worker.stop();
  return {
    label,
    count,
    rssBefore: before.rss,
    rssAfter: after.rss,
    peak: after.peak,
    peakPhase: highest.phase,
    cached,
    seconds,
  };
}

const formatMiB = (bytes: number): string => `${(bytes / 1024 ** 2).toFixed(0)} MiB`;

/** The worker's sticky cache size: WORKER_MAX_CACHED_WORKFLOWS, or its default. */
const maxCachedWorkflows = (): number =>
  envSchema.shape.WORKER_MAX_CACHED_WORKFLOWS.parse(process.env['WORKER_MAX_CACHED_WORKFLOWS']);

/**
 * Starts the bare baseline, then `--count` real fulfillments through the gateway path, each
 * with its own worker process; prints the table and rewrites the `## memory` section.
 */
export async function runMemoryBenchmark(args: string[], signal: AbortSignal): Promise<void> {
  let count: number;
  let concurrency: number;
  try {
    const { values } = parseArgs({
      args,
      options: {
        count: { type: 'string', default: '10000' },
        concurrency: { type: 'string', default: '50' },
      },
    });
    count = positiveNumber('--count', values.count);
    concurrency = positiveNumber('--concurrency', values.concurrency);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (!Number.isInteger(count) || !Number.isInteger(concurrency))
    throw new UsageError('--count and --concurrency must be whole numbers');
  const measuredAt = new Date().toISOString();
  const cleanups = new Cleanups('bench');
  try {
    progress('creating a throwaway database and a Temporal dev server');
    const { db, temporal, dir, ...components } = await startLocalComponents(cleanups, {
      name: 'bench',
    });
    progress('building the workflow bundles');
    const bundlePath = await writeWorkflowBundle(path.join(dir, 'workflow-bundle.js'));
    const bareBundlePath = await writeWorkflowBundle(path.join(dir, 'bare-bundle.js'), {
      workflowsPath: BARE_WORKFLOWS_PATH,
    });
    const env = deployedProcessEnv({
      databaseUrl: components.databaseUrl,
      temporalAddress: components.devServer.address,
      payloadKeys: components.payloadKeys,
      storageDir: components.storageDir,
      workflowBundlePath: bundlePath,
    });
    /** Runs `start` for workflow 0 … count − 1, `--concurrency` at a time. */
    const startEach = async (start: (index: number) => Promise<void>): Promise<void> => {
      await mapLimit(
        Array.from({ length: count }, (_, index) => index),
        concurrency,
        async (index) => {
          signal.throwIfAborted();
          await start(index);
        },
      );
    };
    signal.throwIfAborted();

    // The floor: workflows that only wait on a timer, on a worker with the same defaults.
    const bareWorker = await spawnWorker(
      cleanups,
      temporal,
      [
        BARE_WORKER,
        components.devServer.address,
        BARE_TASK_QUEUE,
        bareBundlePath,
        String(maxCachedWorkflows()),
      ],
      env,
      BARE_TASK_QUEUE,
      dir,
    );
    const runId = Date.now().toString(36);
    const bare = await measureWorker(
      signal,
      'bare timer workflows',
      count,
      bareWorker,
      () =>
        startEach(async (index) => {
          await temporal.workflow.start<typeof bareTimerWorkflow>('bareTimerWorkflow', {
            taskQueue: BARE_TASK_QUEUE,
            workflowId: `bench-bare-timer-${runId}-${index}`,
          });
        }),
      async () => {},
    );

    const fulfillmentWorker = await spawnWorker(
      cleanups,
      temporal,
      ['scripts/worker.ts'],
      env,
      FULFILLMENT_TASK_QUEUE,
      dir,
    );
    const runStartedAt = new Date(Date.now() - 1_000);
    const fulfillment = await measureWorker(
      signal,
      'fulfillments',
      count,
      fulfillmentWorker,
      () =>
        startEach(async (index) => {
          // The gateway path without HTTP: inbox row, audit, workflow start.
          const event = buildPaymentIntentSucceededEvent({
            paymentIntentId: stripeTestId('pi'),
            skus: [DEMO_SKU],
            email: `bench-memory-${index}@example.com`,
          });
          const outcome = await ingestStripeEvent({ db, temporal }, event, JSON.stringify(event), {
            actor: 'bench',
          });
          if (outcome.result !== 'processed')
            throw new Error(`the gateway did not start a fulfillment: ${outcome.error}`);
        }),
      async () => {
        let reportedAt = performance.now();
        for (;;) {
          signal.throwIfAborted();
          const done = await countJobsCompletedSince(db, runStartedAt);
          if (done >= count) return;
          if (performance.now() - reportedAt > REPORT_EVERY_MS) {
            progress(`fulfillments: ${done} of ${count} completed and waiting on their timer`);
            reportedAt = performance.now();
          }
          await sleep(1_000, undefined, { signal });
        }
      },
    );

    const maxCached = maxCachedWorkflows();
    const header = [
      'worker',
      'open workflows',
      'RSS idle',
      'peak RSS (VmHWM)',
      'peak while',
      'RSS settled, all open',
      'in cache',
      'start → all on timer',
    ];
    const row = (figures: WorkerFigures): string[] => [
      figures.label,
      String(figures.count),
      formatMiB(figures.rssBefore),
      formatMiB(figures.peak),
      figures.peakPhase,
      formatMiB(figures.rssAfter),
      String(figures.cached),
      `${figures.seconds.toFixed(0)} s (${(figures.count / figures.seconds).toFixed(1)}/s)`,
    ];
    const rows = [row(fulfillment), row(bare)];
    const ratio = fulfillment.peak / bare.peak;
    // The target is the peak: a worker whose memory exceeds its limit while the fulfillments
    // start is killed then, whatever it settles at afterwards.
    const targets = [
      [
        `worker peak RSS (VmHWM) while ${count} fulfillments start and wait ≤ 1 GiB`,
        formatMiB(fulfillment.peak),
        fulfillment.peak <= TARGET_BYTES ? 'met' : 'missed',
      ],
      [
        'for context, not judged: its settled RSS with all open',
        formatMiB(fulfillment.rssAfter),
        '—',
      ],
    ];
    console.log(
      [
        '',
        formatTextTable(header, rows),
        `fulfillment peak ÷ bare peak: ${ratio.toFixed(2)}`,
        `maxCachedWorkflows: ${maxCached} (WORKER_MAX_CACHED_WORKFLOWS, both workers)`,
        '',
        formatTextTable(['target', 'measured', 'result'], targets),
      ].join('\n'),
    );
    const section = `
${measurementPreamble(measuredAt, ['npm run bench -- memory', ...args].join(' '))}

Resident memory of the worker process — \`scripts/worker.ts\`, what \`npm run worker\` runs,
with the prebuilt bundle and payload encryption — from \`/proc/<pid>/status\`: idle after its
first poll (\`VmRSS\`); the **peak** (\`VmHWM\`, the most it was ever resident), which is what
the target judges — a worker over its memory limit is killed when it gets there, not when it
settles — with the phase in which the highest once-a-second \`VmRSS\` sample fell (starting:
while the ${count} starts go out; finishing: until every job completed; settling: until the last
workflow task); and the settled \`VmRSS\` once all ${count} fulfillments are open and waiting on their
24 h reminder timer. Each is a real purchase through the gateway path
without HTTP (\`ingestStripeEvent\`: inbox row, audit, workflow start; ${concurrency} at a time) that
runs every step against a throwaway database, so this also measures how long that takes on
this machine: "start → all on timer" runs from the first start until every job is
\`completed\` and the worker has finished its last workflow task (no new one for
${QUIET_SECONDS} s, from the SDK's own \`${WORKFLOW_TASKS_DONE}\`). "In cache" is the SDK's
\`${STICKY_CACHE_SIZE}\`: workflows kept in memory; the rest were evicted and replay from history when
their timer fires.

The baseline is a **bare worker** (\`bench/bare-worker.ts\`, same SDK runtime and
defaults, no activities of ours) holding ${count} workflows that only \`sleep('24 hours')\`
(\`bareTimerWorkflow\`), measured first, on the same dev server.

Both workers keep at most **${maxCached}** workflows in their sticky cache
(\`maxCachedWorkflows\`, the worker's \`WORKER_MAX_CACHED_WORKFLOWS\`); the others are evicted
and replay their history when their timer fires. Both run with V8's old space capped at
**${WORKER_OLD_SPACE_MB} MiB** (\`--max-old-space-size\`), as deploy/kubernetes/worker.yaml starts
the worker.

${formatMarkdownTable(header, rows)}

fulfillment peak ÷ bare peak: **${ratio.toFixed(2)}**

${formatMarkdownTable(['target', 'measured', 'result'], targets)}
`;
    await writeBenchmarkSection('memory', section);
  } finally {
    progress('stopping');
    await cleanups.runAll();
  }
}
