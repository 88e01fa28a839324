// `npm run bench -- fulfillment`: the service as deployed — the api and the worker as separate
// processes (stack/deployed-stack.ts) — measured end to end (webhook received → receipt sent),
// in sustained fulfillments/s against a bare workflow of the same shape, with ablations that
// attribute the gap, and in billable actions per purchase.
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Db } from '../db/database.ts';
import {
  countDeliveredPurchases,
  listDeliveryEmailSentTimes,
  listJobCompletions,
  listStripeEventReceivedTimes,
} from '../db/queries/outcomes.ts';
import { startFulfillment } from '../temporal/workflows.ts';
import {
  fulfillmentWorkflowId,
  WORKFLOW_TYPES,
  type FulfillmentInput,
} from '../workflows/contracts.ts';
import { Cleanups } from '../stack/cleanups.ts';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import {
  spawnRepoScript,
  startDeployedStack,
  waitForPoller,
  type DeployedStack,
} from '../stack/deployed-stack.ts';
import {
  isSuccess,
  runOpenLoad,
  signedWebhookRequest,
  STRIPE_WEBHOOK_PATH,
  type LoadSample,
} from '../stack/load.ts';
import { describeMachine, formatMarkdownTable } from '../stack/measurement-docs.ts';
import { getFreePort } from '../stack/processes.ts';
import {
  buildPaymentIntentSucceededEvent,
  recordStripeEvent,
  stripeTestId,
} from '../stack/stripe-events.ts';
import { prebuiltWorkflowBundle, writeWorkflowBundle } from '../stack/workflow-bundle.ts';
import {
  actionTables,
  actionTargets,
  countActionsPerFulfillment,
  countBillableActions,
  type ActionFigures,
} from './actions.ts';
import type { BareShape, bareWorkflow } from './bare-workflow.ts';
import {
  benchConfig,
  formatMs,
  formatTextTable,
  percentile,
  positiveNumber,
  progress,
  summarizeSamples,
  UsageError,
  writeBenchmarkSection,
  type LatencySummary,
} from './lib.ts';

const BARE_WORKFLOWS_PATH = fileURLToPath(new URL('./bare-workflow.ts', import.meta.url));
const BARE_TASK_QUEUE = 'bench-bare';
const NOOP_TASK_QUEUE = 'bench-noop-fulfillment';

// Enough purchases for JIT compilation, pool connections and worker pollers to settle.
const LATENCY_WARMUP_SECONDS = 3;
// Ten purchases, each after the last one's email, give a steady median in about ten seconds.
const UNQUEUED_PURCHASES = 10;
// `--concurrency` units start at once; their first completions take a few seconds, and
// counting that ramp-up would charge it to the sustained rate.
const THROUGHPUT_WARMUP_SECONDS = 5;
// Alternating the workloads in rounds exposes each to the same background load as it drifts
// (a shared machine); four keeps each window long next to its warm-up.
const THROUGHPUT_ROUNDS = 4;
// The measured backlog drains in seconds here; an email still unsent after this is missing.
const DELIVERY_TIMEOUT_MS = 5 * 60_000;
// A count over the run's purchases is cheap, and a second is fine next to a drain of seconds.
const DELIVERY_POLL_MS = 1_000;
// Under saturation a fulfillment takes seconds; 100 ms of polling delay is noise next to it,
// and ten indexed lookups a second cost the database nothing.
const COMPLETION_POLL_MS = 100;
// One at a time, a purchase takes a fraction of that: 20 ms polling keeps the floor honest.
const UNQUEUED_POLL_MS = 20;
// Far beyond a saturated fulfillment; a purchase still unfinished is stuck, not slow.
const COMPLETION_TIMEOUT_MS = 2 * 60_000;
// The first fulfillment reaches its reminder timer well within this on an idle stack.
const FIRST_TIMER_TIMEOUT_MS = 60_000;
// A history is a few dozen events; fetching it twice a second is nothing.
const FIRST_TIMER_POLL_MS = 500;
const REPORT_EVERY_SECONDS = 10;

const TARGET_P50_MS = 150;
const TARGET_P99_MS = 500;
const TARGET_THROUGHPUT_RATIO = 0.8;

interface FulfillmentBenchOptions {
  ratePerSecond: number;
  durationSeconds: number;
  sustainDurationSeconds: number;
  concurrency: number;
}

function parseFulfillmentArgs(args: string[]): FulfillmentBenchOptions {
  let values: { rate: string; duration: string; 'sustain-duration': string; concurrency: string };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        rate: { type: 'string', default: '10' },
        duration: { type: 'string', default: '60' },
        'sustain-duration': { type: 'string', default: '120' },
        concurrency: { type: 'string', default: '50' },
      },
    }));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const concurrency = positiveNumber('--concurrency', values.concurrency);
  if (!Number.isInteger(concurrency))
    throw new UsageError(`--concurrency must be a whole number, not "${values.concurrency}"`);
  return {
    ratePerSecond: positiveNumber('--rate', values.rate),
    durationSeconds: positiveNumber('--duration', values.duration),
    sustainDurationSeconds: positiveNumber('--sustain-duration', values['sustain-duration']),
    concurrency,
  };
}

interface Purchase {
  paymentIntentId: string;
  eventId: string;
  payload: string;
  /** The event as Stripe sends it, for the paths that record it without the api. */
  event: ReturnType<typeof buildPaymentIntentSucceededEvent>;
}

/** A new guest purchase: its own event, payment intent and buyer email. */
function newPurchase(scenario: string, index: number): Purchase {
  const paymentIntentId = stripeTestId('pi');
  const event = buildPaymentIntentSucceededEvent({
    paymentIntentId,
    skus: [DEMO_SKU],
    email: `bench-${scenario}-${index}-${paymentIntentId.slice(-6)}@example.com`,
  });
  return { paymentIntentId, eventId: event.id, payload: JSON.stringify(event), event };
}

const stripeInput = (purchase: Purchase): FulfillmentInput => ({
  source: 'stripe',
  purchaseKey: purchase.paymentIntentId,
  paymentIntentId: purchase.paymentIntentId,
  stripeEventId: purchase.eventId,
});

interface DeliveryWait {
  delivered: number;
  seconds: number;
}

async function waitForDeliveries(
  db: Db,
  paymentIntentIds: readonly string[],
  signal: AbortSignal,
  pollMs = DELIVERY_POLL_MS,
): Promise<DeliveryWait> {
  const startedAt = performance.now();
  let reportedAt = startedAt;
  for (;;) {
    const delivered = await countDeliveredPurchases(db, paymentIntentIds);
    const now = performance.now();
    const seconds = (now - startedAt) / 1000;
    if (delivered === paymentIntentIds.length || now - startedAt > DELIVERY_TIMEOUT_MS)
      return { delivered, seconds };
    if (now - reportedAt >= REPORT_EVERY_SECONDS * 1000) {
      progress(`waiting for delivery emails: ${delivered} of ${paymentIntentIds.length} sent`);
      reportedAt = now;
    }
    await sleep(pollMs, undefined, { signal });
  }
}

interface SentPurchase extends Purchase {
  sample: LoadSample;
}

async function sendPurchasesOpenLoop(
  stack: DeployedStack,
  label: string,
  ratePerSecond: number,
  durationSeconds: number,
  signal: AbortSignal,
): Promise<SentPurchase[]> {
  progress(`${label}: ${ratePerSecond} purchases/s for ${durationSeconds} s`);
  const purchases: Purchase[] = [];
  const samples = await runOpenLoad({
    label,
    url: `${stack.apiUrl}${STRIPE_WEBHOOK_PATH}`,
    ratePerSecond,
    durationSeconds,
    buildRequest: (index) => {
      const purchase = newPurchase(label, index);
      purchases[index] = purchase;
      return signedWebhookRequest(purchase.payload, stack.webhookSecrets[0]!);
    },
    signal,
    report: { everySeconds: REPORT_EVERY_SECONDS, log: progress },
  });
  signal.throwIfAborted();
  return samples.map((sample) => ({ ...purchases[sample.index]!, sample }));
}

interface Percentiles {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function summarizeDurations(durations: readonly number[]): Percentiles {
  const sorted = [...durations].sort((a, b) => a - b);
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted.at(-1) ?? Number.NaN,
  };
}

interface EndToEndLatency {
  sent: number;
  accepted: number;
  delivered: number;
  deliveryWaitSeconds: number;
  /** From the inbox row's `received_at` to the receipt's `sent_at`: both the database's clock. */
  fromReceived: Percentiles;
  /** The same, for purchases sent one at a time before the load: the floor. */
  unqueued: Percentiles;
  /** Ablation: one at a time, started with the Temporal client (no api): start → `sent_at`. */
  unqueuedWithoutGateway: Percentiles;
  /** Ablation: one at a time on the no-op worker: start → the no-op receipt. */
  unqueuedNoopSteps: Percentiles;
  ack: LatencySummary;
}

/** Received-to-sent durations (ms) of the purchases whose receipt is recorded. */
async function receivedToSent(db: Db, purchases: readonly Purchase[]): Promise<number[]> {
  const sent = new Map(
    (
      await listDeliveryEmailSentTimes(
        db,
        purchases.map((purchase) => purchase.paymentIntentId),
      )
    ).map((row) => [row.purchaseKey, row.sentAtMs]),
  );
  const received = new Map(
    (
      await listStripeEventReceivedTimes(
        db,
        purchases.map((purchase) => purchase.eventId),
      )
    ).map((row) => [row.eventId, row.receivedAtMs]),
  );
  const durations: number[] = [];
  for (const purchase of purchases) {
    const sentAt = sent.get(purchase.paymentIntentId);
    const receivedAt = received.get(purchase.eventId);
    if (sentAt != null && receivedAt != null) durations.push(sentAt - receivedAt);
  }
  return durations;
}

/** Posts one purchase; true when the api answered 2xx. */
async function postPurchase(url: string, secret: string, purchase: Purchase): Promise<boolean> {
  try {
    // Never aborted on Ctrl-C: a request dropped mid-flight leaves a socket the api's close
    // waits on, and the api answers within its deadlines anyway.
    const response = await fetch(url, {
      method: 'POST',
      ...signedWebhookRequest(purchase.payload, secret),
    });
    await response.text();
    return response.ok;
  } catch {
    return false;
  }
}

/** Purchases through the api one at a time, each after the last one's receipt. */
async function measureUnqueued(stack: DeployedStack, signal: AbortSignal): Promise<Percentiles> {
  progress(`${UNQUEUED_PURCHASES} purchases one at a time through the api`);
  const accepted: Purchase[] = [];
  for (let index = 0; index < UNQUEUED_PURCHASES; index += 1) {
    const purchase = newPurchase('one-at-a-time', index);
    const url = `${stack.apiUrl}${STRIPE_WEBHOOK_PATH}`;
    if (!(await postPurchase(url, stack.webhookSecrets[0]!, purchase))) continue;
    accepted.push(purchase);
    await waitForDeliveries(stack.db, [purchase.paymentIntentId], signal, UNQUEUED_POLL_MS);
  }
  return summarizeDurations(await receivedToSent(stack.db, accepted));
}

/**
 * Ablation "without the gateway": one purchase at a time, its event recorded in the inbox
 * and its fulfillment started with the Temporal client as the gateway's dispatch would;
 * timed from the start call to `sent_at` (one machine, one clock).
 */
async function measureUnqueuedWithoutGateway(
  stack: DeployedStack,
  signal: AbortSignal,
): Promise<Percentiles> {
  progress(`${UNQUEUED_PURCHASES} purchases one at a time, started without the api`);
  const durations: number[] = [];
  for (let index = 0; index < UNQUEUED_PURCHASES; index += 1) {
    const purchase = newPurchase('no-gateway-one', index);
    await recordStripeEvent(stack.db, purchase.event);
    const startedAt = Date.now();
    await startFulfillment(stack.temporal, stripeInput(purchase));
    await waitForDeliveries(stack.db, [purchase.paymentIntentId], signal, UNQUEUED_POLL_MS);
    const [sent] = await listDeliveryEmailSentTimes(stack.db, [purchase.paymentIntentId]);
    if (sent?.sentAtMs != null) durations.push(sent.sentAtMs - startedAt);
  }
  return summarizeDurations(durations);
}

/** Ablation "steps as no-ops": one at a time on the no-op worker, start → no-op receipt. */
async function measureUnqueuedNoop(
  temporal: Client,
  noop: NoopWorker,
  signal: AbortSignal,
): Promise<Percentiles> {
  progress(`${UNQUEUED_PURCHASES} fulfillments one at a time on the no-op worker`);
  const durations: number[] = [];
  for (let index = 0; index < UNQUEUED_PURCHASES; index += 1) {
    const purchase = newPurchase('noop-one', index);
    const startedAt = Date.now();
    const delivered = noop.completion(fulfillmentWorkflowId(purchase.paymentIntentId));
    await startNoopFulfillment(temporal, purchase);
    const at = await delivered;
    signal.throwIfAborted();
    if (at !== null) durations.push(at - startedAt);
  }
  return summarizeDurations(durations);
}

/**
 * Open-loop purchases at `--rate`, each timed from the webhook's `received_at` to its receipt's
 * `sent_at`; a short warm-up first, delivered before the measured load starts.
 */
async function measureEndToEnd(
  stack: DeployedStack,
  noop: NoopWorker,
  options: FulfillmentBenchOptions,
  signal: AbortSignal,
): Promise<{ latency: EndToEndLatency; samplePaymentIntentId: string }> {
  const warmup = await sendPurchasesOpenLoop(
    stack,
    'warm-up',
    options.ratePerSecond,
    LATENCY_WARMUP_SECONDS,
    signal,
  );
  await waitForDeliveries(
    stack.db,
    warmup.filter((purchase) => isSuccess(purchase.sample)).map((p) => p.paymentIntentId),
    signal,
  );
  const unqueued = await measureUnqueued(stack, signal);
  const unqueuedWithoutGateway = await measureUnqueuedWithoutGateway(stack, signal);
  const unqueuedNoopSteps = await measureUnqueuedNoop(stack.temporal, noop, signal);

  const sent = await sendPurchasesOpenLoop(
    stack,
    'latency',
    options.ratePerSecond,
    options.durationSeconds,
    signal,
  );
  const accepted = sent.filter((purchase) => isSuccess(purchase.sample));
  const first = accepted[0];
  if (!first) throw new Error('the api accepted no purchase: nothing to measure');
  progress('waiting for the receipts of the measured purchases');
  const wait = await waitForDeliveries(
    stack.db,
    accepted.map((purchase) => purchase.paymentIntentId),
    signal,
  );
  return {
    latency: {
      sent: sent.length,
      accepted: accepted.length,
      delivered: wait.delivered,
      deliveryWaitSeconds: wait.seconds,
      fromReceived: summarizeDurations(await receivedToSent(stack.db, accepted)),
      unqueued,
      unqueuedWithoutGateway,
      unqueuedNoopSteps,
      ack: summarizeSamples(sent.map((purchase) => purchase.sample)),
    },
    samplePaymentIntentId: first.paymentIntentId,
  };
}

/** The shape of a real fulfillment on this run's dev server, counted from its history. */
async function fulfillmentShape(
  temporal: Client,
  paymentIntentId: string,
  signal: AbortSignal,
): Promise<{ workflowId: string; shape: BareShape }> {
  const workflowId = fulfillmentWorkflowId(paymentIntentId);
  const handle = temporal.workflow.getHandle(workflowId);
  const deadline = performance.now() + FIRST_TIMER_TIMEOUT_MS;
  for (;;) {
    const history = await handle.fetchHistory();
    if ((history.events ?? []).some((event) => event.timerStartedEventAttributes))
      return { workflowId, shape: countBillableActions(workflowId, history).shapeBeforeFirstTimer };
    if (performance.now() > deadline)
      throw new Error(`${workflowId} started no timer within ${FIRST_TIMER_TIMEOUT_MS} ms`);
    await sleep(FIRST_TIMER_POLL_MS, undefined, { signal });
  }
}

/** Seconds with at most one decimal: `30`, `8.8`. */
const formatSeconds = (seconds: number): string => String(Number(seconds.toFixed(1)));

interface ClosedLoopResult {
  started: number;
  completedInWindow: number;
  failed: number;
  /** The measured window, warm-up excluded. */
  seconds: number;
  perSecond: number;
}

interface ClosedLoopOptions {
  label: string;
  concurrency: number;
  durationSeconds: number;
  signal: AbortSignal;
  /** Runs one unit to its end: its completion time (epoch ms), or null when it failed. */
  runOne(index: number): Promise<number | null>;
}

/**
 * Closed loop: `concurrency` slots, each starting its next unit when the last one ended, for a
 * warm-up and then `durationSeconds`. Counts units that completed inside the measured window;
 * units still running when it closes finish but do not count.
 */
async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const windowStart = Date.now() + THROUGHPUT_WARMUP_SECONDS * 1000;
  const windowEnd = windowStart + options.durationSeconds * 1000;
  let started = 0;
  let finished = 0;
  let completedInWindow = 0;
  let failed = 0;
  let stopping = false;
  const slot = async (): Promise<void> => {
    while (!stopping && !options.signal.aborted && Date.now() < windowEnd) {
      const index = started;
      started += 1;
      const completedAt = await options.runOne(index);
      finished += 1;
      if (completedAt === null) failed += 1;
      else if (completedAt >= windowStart && completedAt <= windowEnd) completedInWindow += 1;
    }
  };
  const reporter = setInterval(() => {
    const elapsed = (Date.now() - windowStart) / 1000 + THROUGHPUT_WARMUP_SECONDS;
    const total = THROUGHPUT_WARMUP_SECONDS + options.durationSeconds;
    const where =
      elapsed < total
        ? `${elapsed.toFixed(0)} s of ${formatSeconds(total)} s`
        : `window closed, ${started - finished} still in flight`;
    progress(
      `${options.label}: ${where}, ${started} started, ` +
        `${completedInWindow} completed in the window, ${failed} failed`,
    );
  }, REPORT_EVERY_SECONDS * 1000);
  try {
    const outcomes = await Promise.allSettled(
      Array.from({ length: options.concurrency }, () =>
        slot().catch((error: unknown) => {
          stopping = true;
          throw error;
        }),
      ),
    );
    const rejection = outcomes.find((outcome) => outcome.status === 'rejected');
    if (rejection) throw rejection.reason;
  } finally {
    clearInterval(reporter);
  }
  options.signal.throwIfAborted();
  return {
    started,
    completedInWindow,
    failed,
    seconds: options.durationSeconds,
    perSecond: completedInWindow / options.durationSeconds,
  };
}

interface CompletionWatcher {
  /** When the unit completed (epoch ms), or null when it did not complete in time. */
  completion(workflowId: string): Promise<number | null>;
  stop(): Promise<void>;
}

interface Waiter {
  since: number;
  settle(completedAt: number | null): void;
  fail(error: Error): void;
}

/**
 * One poller for every unit in flight, instead of one loop per unit: `poll` returns the units
 * that completed (by workflow id, epoch ms) among those waited on.
 */
function watchCompletions(
  poll: (workflowIds: string[]) => Promise<Map<string, number>>,
  signal: AbortSignal,
  intervalMs = COMPLETION_POLL_MS,
): CompletionWatcher {
  const waiting = new Map<string, Waiter>();
  let stopped = false;
  let failure: Error | null = null;

  const settleFinished = async (): Promise<void> => {
    for (const [workflowId, completedAt] of await poll([...waiting.keys()])) {
      waiting.get(workflowId)?.settle(completedAt);
      waiting.delete(workflowId);
    }
    const now = performance.now();
    for (const [workflowId, waiter] of waiting) {
      if (now - waiter.since < COMPLETION_TIMEOUT_MS) continue;
      waiter.settle(null);
      waiting.delete(workflowId);
    }
  };

  const running = (async () => {
    while (!stopped) {
      await sleep(intervalMs, undefined, { signal });
      if (waiting.size > 0) await settleFinished();
    }
  })().catch((error: unknown) => {
    failure = error instanceof Error ? error : new Error(String(error));
    for (const waiter of waiting.values()) waiter.fail(failure);
    waiting.clear();
  });

  return {
    completion: (workflowId) =>
      new Promise((resolve, reject) => {
        if (failure !== null) reject(failure);
        else waiting.set(workflowId, { since: performance.now(), settle: resolve, fail: reject });
      }),
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** Jobs whose `fulfillment_jobs.completed_at` is set. */
const watchJobCompletions = (db: Db, signal: AbortSignal): CompletionWatcher =>
  watchCompletions(
    async (workflowIds) =>
      new Map(
        (await listJobCompletions(db, workflowIds)).flatMap((row) =>
          row.completedAtMs === null ? [] : [[row.workflowId, row.completedAtMs] as const],
        ),
      ),
    signal,
  );

interface NoopWorker extends CompletionWatcher {
  taskQueue: string;
}

/**
 * The no-op worker process (bench/noop-fulfillment-worker.ts): the real fulfillment bundle,
 * activities that do nothing; its receipts are read from its `GET /delivered`.
 */
async function startNoopWorker(
  cleanups: Cleanups,
  stack: DeployedStack,
  signal: AbortSignal,
): Promise<NoopWorker> {
  const port = await getFreePort();
  const worker = spawnRepoScript(
    'bench/noop-fulfillment-worker.ts',
    [stack.devServer.address, NOOP_TASK_QUEUE, await prebuiltWorkflowBundle(), String(port)],
    { cwd: stack.dir, env: workerEnv(stack) },
  );
  cleanups.add('no-op fulfillment worker', () => worker.stop());
  await waitForPoller(stack.temporal, NOOP_TASK_QUEUE, worker.child.pid!, {
    abort: () => worker.exitReason(),
  });
  const delivered = new Map<string, number>();
  const watcher = watchCompletions(async (workflowIds) => {
    const response = await fetch(`http://127.0.0.1:${port}/delivered`);
    for (const [workflowId, at] of Object.entries(
      (await response.json()) as Record<string, number>,
    ))
      delivered.set(workflowId, at);
    const done = new Map<string, number>();
    for (const workflowId of workflowIds) {
      const at = delivered.get(workflowId);
      if (at === undefined) continue;
      done.set(workflowId, at);
      delivered.delete(workflowId);
    }
    return done;
  }, signal);
  cleanups.add('no-op completion watcher', () => watcher.stop());
  return { ...watcher, taskQueue: NOOP_TASK_QUEUE };
}

/** What the bench's worker processes run with: the stack's Temporal and payload keys. */
function workerEnv(stack: DeployedStack): NodeJS.ProcessEnv {
  return { ...process.env, PAYLOAD_ENCRYPTION_KEYS: stack.payloadKeys };
}

/** A fulfillment on the no-op worker's queue, started as the gateway starts one. */
async function startNoopFulfillment(temporal: Client, purchase: Purchase): Promise<void> {
  await temporal.workflow.start(WORKFLOW_TYPES.fulfillment, {
    taskQueue: NOOP_TASK_QUEUE,
    workflowId: fulfillmentWorkflowId(purchase.paymentIntentId),
    args: [stripeInput(purchase)],
  });
}

/** The bare worker process (bench/bare-worker.ts) on its own queue. */
async function startBareWorker(cleanups: Cleanups, stack: DeployedStack): Promise<void> {
  const bundle = await writeWorkflowBundle(path.join(stack.dir, 'bare-bundle.js'), {
    workflowsPath: BARE_WORKFLOWS_PATH,
  });
  const worker = spawnRepoScript(
    'bench/bare-worker.ts',
    [stack.devServer.address, BARE_TASK_QUEUE, bundle],
    { cwd: stack.dir, env: workerEnv(stack) },
  );
  cleanups.add('bare worker', () => worker.stop());
  await waitForPoller(stack.temporal, BARE_TASK_QUEUE, worker.child.pid!, {
    abort: () => worker.exitReason(),
  });
}

async function runBareOnce(
  temporal: Client,
  shape: BareShape,
  workflowId: string,
  signal: AbortSignal,
): Promise<number | null> {
  try {
    await temporal.workflow.execute<typeof bareWorkflow>('bareWorkflow', {
      taskQueue: BARE_TASK_QUEUE,
      workflowId,
      args: [shape],
      // The same bound a fulfillment gets from the completion watcher.
      workflowExecutionTimeout: COMPLETION_TIMEOUT_MS,
    });
    return Date.now();
  } catch (error) {
    if (signal.aborted) throw error;
    return null;
  }
}

function combineRounds(rounds: readonly ClosedLoopResult[]): ClosedLoopResult {
  const sum = (field: 'started' | 'completedInWindow' | 'failed'): number =>
    rounds.reduce((total, round) => total + round[field], 0);
  const seconds = rounds.reduce((total, round) => total + round.seconds, 0);
  return {
    started: sum('started'),
    completedInWindow: sum('completedInWindow'),
    failed: sum('failed'),
    seconds,
    perSecond: sum('completedInWindow') / seconds,
  };
}

const WORKLOADS = ['fulfillment', 'bare', 'bareUpserts', 'withoutGateway', 'noopSteps'] as const;
type Workload = (typeof WORKLOADS)[number];

const WORKLOAD_NAMES: Record<Workload, string> = {
  fulfillment: 'fulfillment (webhook → job completed)',
  bare: 'bare workflow, same shape (no-op activities)',
  bareUpserts: 'ablation: bare + upserts',
  withoutGateway: 'ablation: fulfillment without the gateway',
  noopSteps: 'ablation: fulfillment with no-op steps',
};

/**
 * Every workload through the same closed loop, alternating in rounds with the same concurrency
 * and window, so all meet the same drift in whatever else the machine runs.
 */
async function measureThroughput(
  stack: DeployedStack,
  noop: NoopWorker,
  shape: BareShape,
  options: FulfillmentBenchOptions,
  signal: AbortSignal,
): Promise<Record<Workload, ClosedLoopResult>> {
  const roundSeconds = options.sustainDurationSeconds / THROUGHPUT_ROUNDS;
  const webhookUrl = `${stack.apiUrl}${STRIPE_WEBHOOK_PATH}`;
  const jobs = watchJobCompletions(stack.db, signal);
  const units: Record<Workload, (round: number, index: number) => Promise<number | null>> = {
    fulfillment: async (round, index) => {
      const purchase = newPurchase(`sustain-${round}`, index);
      if (!(await postPurchase(webhookUrl, stack.webhookSecrets[0]!, purchase))) return null;
      return jobs.completion(fulfillmentWorkflowId(purchase.paymentIntentId));
    },
    bare: (round, index) =>
      runBareOnce(stack.temporal, { ...shape, upserts: 0 }, `bare-${round}-${index}`, signal),
    bareUpserts: (round, index) =>
      runBareOnce(stack.temporal, shape, `bare-upserts-${round}-${index}`, signal),
    withoutGateway: async (round, index) => {
      const purchase = newPurchase(`no-gateway-${round}`, index);
      await recordStripeEvent(stack.db, purchase.event);
      await startFulfillment(stack.temporal, stripeInput(purchase));
      return jobs.completion(fulfillmentWorkflowId(purchase.paymentIntentId));
    },
    noopSteps: async (round, index) => {
      const purchase = newPurchase(`noop-${round}`, index);
      const delivered = noop.completion(fulfillmentWorkflowId(purchase.paymentIntentId));
      await startNoopFulfillment(stack.temporal, purchase);
      return delivered;
    },
  };
  const rounds: Record<Workload, ClosedLoopResult[]> = {
    fulfillment: [],
    bare: [],
    bareUpserts: [],
    withoutGateway: [],
    noopSteps: [],
  };
  try {
    for (let round = 1; round <= THROUGHPUT_ROUNDS; round += 1) {
      for (const workload of WORKLOADS) {
        const label = `${WORKLOAD_NAMES[workload]}, round ${round} of ${THROUGHPUT_ROUNDS}`;
        progress(`${label}: ${options.concurrency} in flight`);
        rounds[workload].push(
          await runClosedLoop({
            label,
            concurrency: options.concurrency,
            durationSeconds: roundSeconds,
            signal,
            runOne: (index) => units[workload](round, index),
          }),
        );
      }
    }
  } finally {
    await jobs.stop();
  }
  return Object.fromEntries(
    WORKLOADS.map((workload) => [workload, combineRounds(rounds[workload])]),
  ) as Record<Workload, ClosedLoopResult>;
}

interface FulfillmentReport {
  options: FulfillmentBenchOptions;
  commandLine: string;
  measuredAt: string;
  machine: string;
  loadAverage: string;
  latency: EndToEndLatency;
  shapeSource: { workflowId: string; shape: BareShape };
  throughput: Record<Workload, ClosedLoopResult>;
  actions: ActionFigures;
}

const LATENCY_HEADER = ['end to end', 'purchases', 'p50 ms', 'p99 ms', 'max ms'];

function latencyRows({ latency, options }: FulfillmentReport): string[][] {
  const row = (name: string, figures: Percentiles): string[] => [
    name,
    String(figures.count),
    formatMs(figures.p50Ms),
    formatMs(figures.p99Ms),
    formatMs(figures.maxMs),
  ];
  return [
    row(
      `webhook received → receipt sent, at ${options.ratePerSecond} purchases/s`,
      latency.fromReceived,
    ),
    row('one at a time (no load): received → sent', latency.unqueued),
    row(
      'ablation, one at a time without the gateway: start → sent',
      latency.unqueuedWithoutGateway,
    ),
    row(
      'ablation, one at a time with no-op steps: start → no-op receipt',
      latency.unqueuedNoopSteps,
    ),
    row('webhook POST → 200 (client), for context', {
      count: latency.ack.requests,
      p50Ms: latency.ack.p50Ms,
      p99Ms: latency.ack.p99Ms,
      maxMs: latency.ack.maxMs,
    }),
  ];
}

const THROUGHPUT_HEADER = ['workload', 'in flight', 'started', 'completed', 'per s', '÷ bare'];

function throughputRows(report: FulfillmentReport): string[][] {
  const bare = report.throughput.bare.perSecond;
  return WORKLOADS.map((workload) => {
    const result = report.throughput[workload];
    return [
      WORKLOAD_NAMES[workload],
      String(report.options.concurrency),
      String(result.started),
      String(result.completedInWindow),
      result.perSecond.toFixed(1),
      (result.perSecond / bare).toFixed(2),
    ];
  });
}

const throughputRatio = ({ throughput }: FulfillmentReport): number =>
  throughput.fulfillment.perSecond / throughput.bare.perSecond;

interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

function checkTargets(report: FulfillmentReport): TargetCheck[] {
  const { latency } = report;
  const lost = latency.sent - latency.delivered;
  const ratio = throughputRatio(report);
  return [
    {
      target: `end to end p50 ≤ ${TARGET_P50_MS} ms at ${report.options.ratePerSecond}/s`,
      measured: `${formatMs(latency.fromReceived.p50Ms)} ms`,
      met: latency.fromReceived.p50Ms <= TARGET_P50_MS,
    },
    {
      target: `end to end p99 ≤ ${TARGET_P99_MS} ms at ${report.options.ratePerSecond}/s`,
      measured: `${formatMs(latency.fromReceived.p99Ms)} ms`,
      met: latency.fromReceived.p99Ms <= TARGET_P99_MS,
    },
    {
      target: 'every purchase sent was accepted and delivered',
      measured: `${latency.delivered} of ${latency.sent}`,
      met: lost === 0,
    },
    {
      target: `fulfillments/s ≥ ${TARGET_THROUGHPUT_RATIO} × the same-shape bare workflow`,
      measured: ratio.toFixed(2),
      met: ratio >= TARGET_THROUGHPUT_RATIO,
    },
    ...actionTargets(report.actions).map(([target, measured, result]) => ({
      target: target!,
      measured: measured!,
      met: result === 'met',
    })),
  ];
}

/**
 * Where the gap between the fulfillment and the bare workflow goes, read off the ablations:
 * each step from one workload to the next adds one thing.
 */
function attribution({ throughput, latency }: FulfillmentReport): string[] {
  const rate = (workload: Workload) => throughput[workload].perSecond.toFixed(1);
  return [
    `the upserts (bare ${rate('bare')}/s → bare + upserts ${rate('bareUpserts')}/s): the visibility writes of the two status changes`,
    `the workflow's own code and history (bare + upserts → no-op steps ${rate('noopSteps')}/s): the fulfillment's commands with activities that do nothing`,
    `the steps' work (no-op steps → without the gateway ${rate('withoutGateway')}/s): PostgreSQL, storage checks, rendering and the email driver`,
    `the gateway (without the gateway → through the api ${rate('fulfillment')}/s): the signed webhook, the inbox write and the dispatch`,
    `one at a time, the floor is ${formatMs(latency.unqueued.p50Ms)} ms received → sent; without the gateway ${formatMs(latency.unqueuedWithoutGateway.p50Ms)} ms; with no-op steps ${formatMs(latency.unqueuedNoopSteps.p50Ms)} ms (Temporal's round trips alone)`,
  ];
}

function notes(report: FulfillmentReport): string[] {
  const { latency, throughput, shapeSource, actions } = report;
  const { shape } = shapeSource;
  return [
    `${latency.accepted} of ${latency.sent} purchases accepted, ${latency.delivered} receipts ` +
      `recorded ${latency.deliveryWaitSeconds.toFixed(0)} s after the load ended`,
    `the shape (${shape.localActivities} local activities, ${shape.activities} regular, ${shape.upserts} upserts before the first timer) counted in the history of ${shapeSource.workflowId}`,
    `failed or stuck units in the closed loops: ${WORKLOADS.map((w) => `${w} ${throughput[w].failed}`).join(', ')}`,
    `action histories counted: ${actions.knownAccount.workflowId} (known account), ` +
      `${actions.guest.workflowId} (guest)`,
  ];
}

function printReport(report: FulfillmentReport): void {
  const lines = [
    '',
    formatTextTable(LATENCY_HEADER, latencyRows(report)),
    '',
    formatTextTable(THROUGHPUT_HEADER, throughputRows(report)),
    '',
    'where the gap goes:',
    ...attribution(report).map((line) => `  ${line}`),
    '',
    actionTables(report.actions).text,
    '',
    'targets:',
    ...checkTargets(report).map(
      (check) => `  ${check.target}: ${check.measured} — ${check.met ? 'met' : 'missed'}`,
    ),
    '',
    ...notes(report),
    `load average (1, 5, 15 min) at the end: ${report.loadAverage}`,
  ];
  console.log(lines.join('\n'));
}

function fulfillmentSection(report: FulfillmentReport): string {
  const { options } = report;
  const { shape } = report.shapeSource;
  const targets = checkTargets(report);
  return `
Measured ${report.measuredAt} on ${report.machine}; load average (1, 5, 15 min) at the end:
${report.loadAverage}.

\`\`\`sh
${report.commandLine}
\`\`\`

**As deployed.** The api (\`scripts/api.ts\`) and the worker (\`scripts/worker.ts\`, prebuilt
bundle) run as separate processes (\`stack/deployed-stack.ts\`), with payload encryption, the
outbox email driver and local storage, on a Temporal dev server and a throwaway PostgreSQL
database on this machine; the load generator is a third process. Every purchase is a signed
\`payment_intent.succeeded\` for \`${DEMO_SKU}\` from a guest with a buyer email of its own,
posted over keep-alive HTTP on 127.0.0.1. Percentiles are nearest-rank.

**End to end** (${options.durationSeconds} s open loop at ${options.ratePerSecond} purchases/s, after
${LATENCY_WARMUP_SECONDS} s of warm-up that is not counted): from \`webhook_events.received_at\` — the api's first
write, before the acknowledgement, the dispatch and the Temporal start — to the receipt's
\`email_deliveries.sent_at\`; both are PostgreSQL's clock. The floor is ${UNQUEUED_PURCHASES} purchases sent one at a
time, each once the last one's receipt was recorded. Two ablations of the floor: without the
gateway (the event recorded in the inbox, the fulfillment started with the Temporal client as
the dispatch does; start → \`sent_at\`), and with no-op steps (the real workflow on a worker whose
activities do nothing, \`bench/noop-fulfillment-worker.ts\`; start → its no-op receipt).

${formatMarkdownTable(LATENCY_HEADER, latencyRows(report))}

**Sustained throughput** (closed loop, ${options.concurrency} in flight, ${options.sustainDurationSeconds} s measured per workload,
in ${THROUGHPUT_ROUNDS} alternating rounds of ${formatSeconds(options.sustainDurationSeconds / THROUGHPUT_ROUNDS)} s each after ${THROUGHPUT_WARMUP_SECONDS} s of ramp-up that is not counted): each slot
starts its next unit once the last one completed, and the rate counts units completed inside
the window. A fulfillment completes when its \`fulfillment_jobs.completed_at\` is set (with the
receipt, in the same statement). The baseline is a **bare workflow of the same shape**
(\`bench/bare-workflow.ts\`, in a worker process of its own, \`bench/bare-worker.ts\`): the
${shape.localActivities} local and ${shape.activities} regular no-op activities a real fulfillment on this dev server ran
before its first timer, started and awaited with the Temporal client. The ablations, each
adding one thing: the bare workflow plus the fulfillment's ${shape.upserts} upserts; the fulfillment
workflow with no-op steps; the fulfillment started without the api (inbox row + start); and
the whole path through the api.

${formatMarkdownTable(THROUGHPUT_HEADER, throughputRows(report))}

fulfillments/s ÷ same-shape bare/s: **${throughputRatio(report).toFixed(2)}**

Where the gap goes:

${attribution(report)
  .map((line) => `- ${line}.`)
  .join('\n')}

**Temporal Cloud actions per fulfillment**, counted from the histories of two runs through the
gateway path on the time-skipping test server, so the 24 h and 7 d reminders fire (the rules
and the periodic work per day are in the \`actions\` section):

${actionTables(report.actions).markdown}

${formatMarkdownTable(
  ['target', 'measured', 'result'],
  targets.map((check) => [check.target, check.measured, check.met ? 'met' : 'missed']),
)}

${notes(report)
  .map((note) => `- ${note}.`)
  .join('\n')}
`;
}

/**
 * `npm run bench -- fulfillment`: boots the service as deployed, measures end-to-end latency,
 * sustained throughput against the same-shape bare workflow with its ablations, and billable
 * actions per fulfillment; prints the tables and rewrites the `## fulfillment` section of
 * docs/BENCHMARKS.md.
 */
export async function runFulfillmentBenchmark(args: string[], signal: AbortSignal): Promise<void> {
  const options = parseFulfillmentArgs(args);
  const commandLine = ['npm run bench -- fulfillment', ...args].join(' ');
  const measuredAt = new Date().toISOString();
  const cleanups = new Cleanups('bench');
  try {
    progress(
      'starting the api and the worker as deployed, on a dev server and a throwaway database',
    );
    const stack = await startDeployedStack(cleanups, { name: 'bench' });
    if (stack.crashes.length > 0) throw new Error(stack.crashes.join('; '));
    progress('starting the bare and the no-op workers');
    await startBareWorker(cleanups, stack);
    const noop = await startNoopWorker(cleanups, stack, signal);
    signal.throwIfAborted();

    const { latency, samplePaymentIntentId } = await measureEndToEnd(stack, noop, options, signal);
    const shapeSource = await fulfillmentShape(stack.temporal, samplePaymentIntentId, signal);
    const throughput = await measureThroughput(stack, noop, shapeSource.shape, options, signal);
    const actions = await countActionsPerFulfillment(
      cleanups,
      benchConfig({
        databaseUrl: stack.databaseUrl,
        temporalAddress: stack.devServer.address,
        storageDir: stack.storageDir,
        payloadKeys: stack.payloadKeys,
      }),
      stack.db,
      signal,
    );
    if (stack.crashes.length > 0)
      progress(`the api or the worker crashed during the run: ${stack.crashes.join('; ')}`);

    const report: FulfillmentReport = {
      options,
      commandLine,
      measuredAt,
      machine: describeMachine(),
      loadAverage: os
        .loadavg()
        .map((load) => load.toFixed(2))
        .join(', '),
      latency,
      shapeSource,
      throughput,
      actions,
    };
    printReport(report);
    await writeBenchmarkSection('fulfillment', fulfillmentSection(report));
  } finally {
    progress('stopping the stack');
    await cleanups.runAll();
  }
}
