// Billable Temporal Cloud actions, counted from real histories the way Temporal Cloud bills
// them (https://docs.temporal.io/cloud/actions): per purchase, and per day for the periodic
// work (schedules and the workers' periodic jobs). `npm run bench -- actions` reports them;
// the fulfillment benchmark reuses the per-purchase count.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Client, ScheduleOptions, WorkflowHandle } from '@temporalio/client';
import { msToNumber } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { OperationsScanSummary, ReconcileSummary } from '../activities/operations.ts';
import type { Config } from '../config/env.ts';
import { connectDatabase } from '../db/connect.ts';
import type { Db } from '../db/database.ts';
import { ingestStripeEvent } from '../gateway/ingest.ts';
import { generatePayloadKeyEntry } from '../security/payload-codec.ts';
import { STUCK_SCAN_INTERVAL_SECONDS } from '../support/stuck.ts';
import { payloadDataConverter } from '../temporal/data-converter.ts';
import { operationsSchedules } from '../temporal/schedules.ts';
import { workflowsPath } from '../worker/worker.ts';
import { FULFILLMENT_TASK_QUEUE, WORKFLOW_TYPES } from '../workflows/contracts.ts';
import { createActivityDeps } from '../scripts/lib/worker-deps.ts';
import { Cleanups } from '../stack/cleanups.ts';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import { createDemoStorageDir } from '../stack/demo-data.ts';
import { describeMachine, formatMarkdownTable } from '../stack/measurement-docs.ts';
import { buildPaymentIntentSucceededEvent } from '../stack/stripe-events.ts';
import { createThrowawayDatabase } from '../stack/throwaway-database.ts';
import { startTimeSkippingServer } from '../stack/time-skipping.ts';
import type { BareActivities, BareShape, bareWorkflow } from './bare-workflow.ts';
import {
  benchConfig,
  formatTextTable,
  progress,
  UsageError,
  writeBenchmarkSection,
} from './lib.ts';

const BARE_WORKFLOWS_PATH = fileURLToPath(new URL('./bare-workflow.ts', import.meta.url));
const BARE_TASK_QUEUE = 'bench-bare-actions';
const OPERATIONS_TASK_QUEUE = 'bench-operations-actions';

export const TARGET_ACTIONS_KNOWN_ACCOUNT = 7;
export const TARGET_ACTIONS_GUEST = 9;
export const TARGET_STUCK_DETECTION_ACTIONS_PER_DAY = 1_500;

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

/**
 * The billable kinds, as Temporal Cloud's actions page lists them (docs.temporal.io/cloud/actions):
 * - a workflow start is one (search attributes set at start are free; a de-duplicated start is
 *   none); a schedule adds two per run (counted per day below);
 * - every activity attempt is one: the scheduling and each retry (ActivityTaskStarted.attempt − 1);
 * - local activities are billed through their markers: every RecordMarker of one workflow task
 *   together is one action — a patch marker (`patched()`) included — plus one per local
 *   attempt after the first (metering metadata) and one per workflow-task heartbeat a long local
 *   activity forces;
 * - every timer started (a `condition` with a timeout starts one), signal received and
 *   search-attribute upsert is one; an upsert that only sets `TemporalChangeVersion` (the SDK's
 *   own, with `patched()`) is exempt;
 * - queries are billed but are not in the history: the runs counted here are not queried.
 */
export const ACTION_KINDS = [
  'workflow started',
  'activities scheduled',
  'activity retries',
  'local activities and markers (one per workflow task)',
  'local activity retries',
  'workflow task heartbeats',
  'timers started',
  'signals received',
  'search attribute upserts',
  'child workflows (two each)',
] as const;

type ActionKind = (typeof ACTION_KINDS)[number];

export interface ActionCount {
  workflowId: string;
  byKind: Record<ActionKind, number>;
  total: number;
  /** What ran before the first timer (the steps, without reminders): the bare floor's shape. */
  shapeBeforeFirstTimer: BareShape;
}

/** An event id (a protobuf Long or a number) as a string, for comparing. */
const idOf = (value: { toString(): string } | number | null | undefined): string =>
  value == null ? '' : value.toString();

/** Whether an upsert sets anything but the SDK's exempt `TemporalChangeVersion`. */
function billableUpsert(event: HistoryEvent): boolean {
  const fields =
    event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields;
  return Object.keys(fields ?? {}).some((name) => name !== 'TemporalChangeVersion');
}

/**
 * A workflow task completed with nothing new arriving before the next one was scheduled: the
 * worker completed it only to keep a long local activity going (a heartbeat).
 */
function heartbeats(events: readonly HistoryEvent[]): number {
  let count = 0;
  events.forEach((event, index) => {
    if (!event.workflowTaskCompletedEventAttributes) return;
    const id = idOf(event.eventId);
    const next = events
      .slice(index + 1)
      .find((later) => !Object.values(later).some((value) => commandOf(value, id)));
    if (next?.workflowTaskScheduledEventAttributes) count += 1;
  });
  return count;
}

/** Whether an event attribute object was written by the commands of workflow task `id`. */
function commandOf(attributes: unknown, id: string): boolean {
  return (
    typeof attributes === 'object' &&
    attributes !== null &&
    'workflowTaskCompletedEventId' in attributes &&
    idOf(
      (attributes as { workflowTaskCompletedEventId: { toString(): string } | null })
        .workflowTaskCompletedEventId,
    ) === id
  );
}

export function countBillableActions(workflowId: string, history: History): ActionCount {
  const events = history.events ?? [];
  const has = (field: keyof HistoryEvent) => events.filter((event) => event[field] != null);
  const markerTasks = new Set(
    has('markerRecordedEventAttributes').map((event) =>
      idOf(event.markerRecordedEventAttributes!.workflowTaskCompletedEventId),
    ),
  );
  const byKind: Record<ActionKind, number> = {
    'workflow started': has('workflowExecutionStartedEventAttributes').length,
    'activities scheduled': has('activityTaskScheduledEventAttributes').length,
    'activity retries': has('activityTaskStartedEventAttributes').reduce(
      (sum, event) =>
        sum + Math.max(0, Number(event.activityTaskStartedEventAttributes!.attempt) - 1),
      0,
    ),
    'local activities and markers (one per workflow task)': markerTasks.size,
    'local activity retries': has('workflowTaskCompletedEventAttributes').reduce(
      (sum, event) =>
        sum +
        Number(
          event.workflowTaskCompletedEventAttributes!.meteringMetadata
            ?.nonfirstLocalActivityExecutionAttempts ?? 0,
        ),
      0,
    ),
    'workflow task heartbeats': heartbeats(events),
    'timers started': has('timerStartedEventAttributes').length,
    'signals received': has('workflowExecutionSignaledEventAttributes').length,
    'search attribute upserts': events.filter(billableUpsert).length,
    'child workflows (two each)':
      2 * has('startChildWorkflowExecutionInitiatedEventAttributes').length,
  };
  const total = Object.values(byKind).reduce((sum, count) => sum + count, 0);
  const firstTimer = events.findIndex((event) => event.timerStartedEventAttributes != null);
  const before = firstTimer === -1 ? events : events.slice(0, firstTimer);
  return {
    workflowId,
    byKind,
    total,
    shapeBeforeFirstTimer: {
      localActivities: before.filter(
        (event) => event.markerRecordedEventAttributes?.markerName === 'core_local_activity',
      ).length,
      activities: before.filter((event) => event.activityTaskScheduledEventAttributes != null)
        .length,
      upserts: before.filter(billableUpsert).length,
    },
  };
}

interface Buyer {
  email: string;
  /** `metadata.user_id`: the buyer was signed in; without it the purchase is a guest's. */
  userId?: string;
}
const KNOWN_ACCOUNT_BUYER: Buyer = {
  email: 'bench-actions-known-account@example.com',
  userId: 'auth0|bench-known-account',
};
// An email of its own: a guest with the known account's email would be matched to it.
const GUEST_BUYER: Buyer = { email: 'bench-actions-guest@example.com' };

/** A purchase through the real gateway path (inbox, audit, start), run to its end. */
async function fulfillToTheEnd(temporal: Client, db: Db, buyer: Buyer): Promise<ActionCount> {
  const event = buildPaymentIntentSucceededEvent({ skus: [DEMO_SKU], ...buyer });
  const outcome = await ingestStripeEvent({ db, temporal }, event, JSON.stringify(event), {
    actor: 'bench',
  });
  if (outcome.result !== 'processed' || outcome.workflowId === null)
    throw new Error(`the gateway did not start a fulfillment: ${outcome.error ?? outcome.result}`);
  const handle = temporal.workflow.getHandle(outcome.workflowId);
  await handle.result();
  return countBillableActions(outcome.workflowId, await handle.fetchHistory());
}

export interface ActionFigures {
  knownAccount: ActionCount;
  guest: ActionCount;
  /** The floor: a bare workflow with the same local and regular activities, no-ops. */
  bare?: ActionCount;
  /** Periodic work per day, when measured. */
  daily?: DailyActions[];
}

/** A time-skipping server (so the reminders' 24 h and 7 d timers fire) and its cleanup. */
async function timeSkipping(cleanups: Cleanups, config: Config): Promise<TestWorkflowEnvironment> {
  progress('starting the time-skipping test server for the reminder timers');
  const env = await startTimeSkippingServer(
    undefined,
    payloadDataConverter(config.PAYLOAD_ENCRYPTION_KEYS),
  );
  cleanups.add('time-skipping test server', () => env.teardown());
  return env;
}

/**
 * A known-account and a guest fulfillment through every reminder on the time-skipping server,
 * with a worker on `db`. With `withBaseline`, a bare workflow of the known account's shape
 * before its first timer (the same local and regular activities, as no-ops), on a worker of
 * its own; with `withDaily`, the periodic work per day.
 */
export async function countActionsPerFulfillment(
  cleanups: Cleanups,
  config: Config,
  db: Db,
  signal: AbortSignal,
  { withBaseline = false, withDaily = false }: { withBaseline?: boolean; withDaily?: boolean } = {},
): Promise<ActionFigures> {
  const env = await timeSkipping(cleanups, config);
  const dataConverter = payloadDataConverter(config.PAYLOAD_ENCRYPTION_KEYS);
  signal.throwIfAborted();
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath,
    logger: new DefaultLogger('WARN'),
  });
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: FULFILLMENT_TASK_QUEUE,
    ...(dataConverter ? { dataConverter } : {}),
    workflowBundle,
    activities: createActivities(createActivityDeps(config, db)),
  });
  progress('running a known-account and a guest fulfillment through every reminder');
  const figures: ActionFigures = await worker.runUntil(async () => ({
    knownAccount: await fulfillToTheEnd(env.client, db, KNOWN_ACCOUNT_BUYER),
    guest: await fulfillToTheEnd(env.client, db, GUEST_BUYER),
  }));
  signal.throwIfAborted();
  if (withBaseline) {
    const shape: BareShape = { ...figures.knownAccount.shapeBeforeFirstTimer, upserts: 0 };
    progress(
      `running the bare workflow: ${shape.localActivities} local and ${shape.activities} regular no-op activities`,
    );
    const bareWorker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue: BARE_TASK_QUEUE,
      ...(dataConverter ? { dataConverter } : {}),
      workflowBundle: await bundleWorkflowCode({
        workflowsPath: BARE_WORKFLOWS_PATH,
        logger: new DefaultLogger('WARN'),
      }),
      activities: { noop: async () => {} } satisfies BareActivities,
    });
    const workflowId = `bench-bare-actions-${Date.now()}`;
    figures.bare = await bareWorker.runUntil(async () => {
      const handle = await env.client.workflow.start<typeof bareWorkflow>('bareWorkflow', {
        taskQueue: BARE_TASK_QUEUE,
        workflowId,
        args: [shape],
      });
      await handle.result();
      return countBillableActions(workflowId, await handle.fetchHistory());
    });
  }
  if (withDaily)
    figures.daily = await countDailyActions(env, workflowBundle, dataConverter, config);
  return figures;
}

/** Periodic work and what it costs a day. */
export interface DailyActions {
  what: string;
  runsPerDay: number;
  /** Per run: the schedule's own two, plus what the workflow's history bills. */
  perRun: number;
  perDay: number;
  note: string;
}

/**
 * How often a schedule's spec fires in a day: `intervals`, or five-field cron expressions
 * whose day fields are `*` (minutes × hours; lists, ranges and steps understood).
 */
export function runsPerDay(spec: ScheduleOptions['spec']): number {
  let runs = 0;
  for (const interval of spec.intervals ?? []) runs += 86_400_000 / msToNumber(interval.every);
  for (const cron of spec.cronExpressions ?? []) {
    const [minute = '*', hour = '*', ...days] = cron.trim().split(/\s+/);
    if (days.some((field) => field !== '*'))
      throw new Error(`cannot count the runs per day of "${cron}": its day fields are not *`);
    runs += cronMatches(minute, 60) * cronMatches(hour, 24);
  }
  return runs;
}

/** How many of 0 … size − 1 a cron field matches. */
function cronMatches(field: string, size: number): number {
  const matched = new Set<number>();
  for (const part of field.split(',')) {
    const [range = '*', step = '1'] = part.split('/');
    const [from, to] =
      range === '*'
        ? [0, size - 1]
        : range.includes('-')
          ? range.split('-').map(Number)
          : [Number(range), step === '1' ? Number(range) : size - 1];
    for (let value = from!; value <= to!; value += Number(step)) matched.add(value);
  }
  return matched.size;
}

/**
 * The periodic work's cost per day, from real histories of the workflows the schedules start
 * (their activities replaced by no-ops returning an empty summary: the commands, and so the
 * bill, are the workflow's own) and the schedules' specs as `ensureOperationsSchedules`
 * creates them, plus the stuck scan, which the workers run as a periodic job.
 */
async function countDailyActions(
  env: TestWorkflowEnvironment,
  workflowBundle: { code: string },
  dataConverter: ReturnType<typeof payloadDataConverter>,
  config: Pick<Config, 'RECONCILE_AUTO_HEAL' | 'RECONCILE_CRON'>,
): Promise<DailyActions[]> {
  progress('counting the periodic work: the reconciliation and the removed stuck-scan schedule');
  const emptyReconcile: ReconcileSummary = { runId: 'bench', counts: {}, findings: 0, healed: 0 };
  const emptyScan: OperationsScanSummary = {
    stuck: [],
    alerted: [],
    failuresLastHour: 0,
    failureRateAlerted: false,
  };
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: OPERATIONS_TASK_QUEUE,
    ...(dataConverter ? { dataConverter } : {}),
    workflowBundle,
    activities: {
      reconcile: async () => emptyReconcile,
      scanOperations: async () => emptyScan,
    },
  });
  const run = async (workflowType: string, args: readonly unknown[]): Promise<ActionCount> => {
    const workflowId = `bench-${workflowType}-${Date.now()}`;
    const handle = await env.client.workflow.start(workflowType, {
      taskQueue: OPERATIONS_TASK_QUEUE,
      workflowId,
      args: [...args],
    });
    await handle.result();
    return countBillableActions(workflowId, await handle.fetchHistory());
  };
  return worker.runUntil(async () => {
    const rows: DailyActions[] = [
      {
        what: `stuck detection: the workers' periodic job (every ${STUCK_SCAN_INTERVAL_SECONDS} s, fleet-wide)`,
        runsPerDay: 86_400 / STUCK_SCAN_INTERVAL_SECONDS,
        perRun: 0,
        perDay: 0,
        note: 'a visibility list and two queries in a worker: no Temporal action',
      },
    ];
    // The schedules as the workers create them, with this configuration (RECONCILE_CRON).
    for (const schedule of operationsSchedules({
      reconcileAutoHeal: config.RECONCILE_AUTO_HEAL,
      reconcileCron: config.RECONCILE_CRON,
    })) {
      if (schedule.action.type !== 'startWorkflow') continue;
      const counted = await run(String(schedule.action.workflowType), schedule.action.args ?? []);
      // Each run of a schedule: two actions for the schedule, and the workflow it starts.
      const perRun = 2 + counted.total;
      const perDay = runsPerDay(schedule.spec);
      rows.push({
        what: `schedule \`${schedule.scheduleId}\` (\`${schedule.spec.cronExpressions?.join(', ') ?? ''}\`)`,
        runsPerDay: perDay,
        perRun,
        perDay: perDay * perRun,
        note: `2 for the schedule + ${counted.total} from the history (start, ${counted.byKind['activities scheduled']} activity); findings it heals start fulfillments, billed as such; each worker start updates the schedule (1 action)`,
      });
    }
    // For comparison: the every-minute schedule this replaced (the workflow is still registered).
    const scan = await run(WORKFLOW_TYPES.opsStuckScan, [{}]);
    rows.push({
      what: 'removed: schedule `ops-stuck-scan` (every minute)',
      runsPerDay: 1_440,
      perRun: 2 + scan.total,
      perDay: 1_440 * (2 + scan.total),
      note: 'what stuck detection cost before; deleted from existing deployments by the workers',
    });
    return rows;
  });
}

const ACTIONS_HEADER = [
  'billable action',
  'known account',
  'guest, both reminders',
  'bare workflow (floor)',
];

function actionRows(figures: ActionFigures): string[][] {
  const { knownAccount, guest, bare } = figures;
  const cell = (count: ActionCount | undefined, kind: ActionKind): string =>
    count ? String(count.byKind[kind]) : '—';
  return [
    ...ACTION_KINDS.map((kind) => [
      kind,
      cell(knownAccount, kind),
      cell(guest, kind),
      cell(bare, kind),
    ]),
    ['total', String(knownAccount.total), String(guest.total), bare ? String(bare.total) : '—'],
  ];
}

/** The per-kind table, shared with the fulfillment benchmark's section. */
export function actionTables(figures: ActionFigures): { text: string; markdown: string } {
  const rows = actionRows(figures);
  const header = figures.bare ? ACTIONS_HEADER : ACTIONS_HEADER.slice(0, 3);
  const trimmed = figures.bare ? rows : rows.map((row) => row.slice(0, 3));
  return {
    text: formatTextTable(header, trimmed),
    markdown: formatMarkdownTable(header, trimmed),
  };
}

const DAILY_HEADER = ['periodic work', 'runs/day', 'actions/run', 'actions/day', 'how'];
const dailyRows = (daily: readonly DailyActions[]): string[][] =>
  daily.map((row) => [
    row.what,
    String(row.runsPerDay),
    String(row.perRun),
    row.perDay.toLocaleString('en-US'),
    row.note,
  ]);

/** The targets of the action counts, judged. */
export function actionTargets(figures: ActionFigures): string[][] {
  const judged = (target: string, measured: number, limit: number) => [
    target,
    measured.toLocaleString('en-US'),
    measured <= limit ? 'met' : 'missed',
  ];
  const rows = [
    judged(
      `actions, known account ≤ ${TARGET_ACTIONS_KNOWN_ACCOUNT}`,
      figures.knownAccount.total,
      TARGET_ACTIONS_KNOWN_ACCOUNT,
    ),
    judged(
      `actions, guest with both reminders ≤ ${TARGET_ACTIONS_GUEST}`,
      figures.guest.total,
      TARGET_ACTIONS_GUEST,
    ),
  ];
  const stuck = figures.daily?.find((row) => row.what.startsWith('stuck detection'));
  if (stuck)
    rows.push(
      judged(
        `stuck detection at zero load ≤ ${TARGET_STUCK_DETECTION_ACTIONS_PER_DAY.toLocaleString('en-US')} actions/day`,
        stuck.perDay,
        TARGET_STUCK_DETECTION_ACTIONS_PER_DAY,
      ),
    );
  return rows;
}

function parseActionArgs(args: string[]): void {
  try {
    parseArgs({ args, options: {} });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * `npm run bench -- actions`: billable actions of a known-account purchase and a guest's who
 * never claims, against a bare workflow of the same shape, and the periodic work per day;
 * prints the tables and rewrites the `## actions` section of docs/BENCHMARKS.md.
 */
export async function runActionsBenchmark(args: string[], signal: AbortSignal): Promise<void> {
  parseActionArgs(args);
  const measuredAt = new Date().toISOString();
  const cleanups = new Cleanups('bench');
  try {
    progress('creating a throwaway database');
    const database = await createThrowawayDatabase('fulfillment_bench');
    cleanups.add('throwaway database', () => database.drop());
    // The time-skipping server has its own address; the config's Temporal is never dialled.
    const config = benchConfig({
      databaseUrl: database.url,
      temporalAddress: '127.0.0.1:1',
      storageDir: await createDemoStorageDir(cleanups, 'fulfillment-bench-storage-'),
      payloadKeys: generatePayloadKeyEntry('bench'),
    });
    const db = await connectDatabase({ kind: 'postgres', url: database.url });
    cleanups.add('database pool', () => db.destroy());
    const figures = await countActionsPerFulfillment(cleanups, config, db, signal, {
      withBaseline: true,
      withDaily: true,
    });
    const bare = figures.bare!;
    const shape = figures.knownAccount.shapeBeforeFirstTimer;
    const ratio = (count: ActionCount): string => (count.total / bare.total).toFixed(2);
    const tables = actionTables(figures);
    const daily = dailyRows(figures.daily ?? []);
    const targets = actionTargets(figures);
    const ratios =
      `known account ÷ bare: ${ratio(figures.knownAccount)}; ` +
      `guest ÷ bare: ${ratio(figures.guest)}`;
    console.log(
      [
        '',
        tables.text,
        '',
        ratios,
        '',
        formatTextTable(
          DAILY_HEADER.slice(0, 4),
          daily.map((row) => row.slice(0, 4)),
        ),
        '',
        formatTextTable(['target', 'measured', 'result'], targets),
      ].join('\n'),
    );

    const section = `
Measured ${measuredAt} on ${describeMachine()}.

\`\`\`sh
npm run bench -- actions
\`\`\`

Billable Temporal Cloud actions, counted from the recorded histories of real runs by the
rules of Temporal's [actions page](https://docs.temporal.io/cloud/actions): a workflow start is
one (search attributes set at start are free); every activity attempt is one (the first, and
each retry); local activities are billed through their markers — all markers of one workflow
task together are one action, the \`patched()\` marker included — plus one per local retry and
per workflow-task heartbeat; every timer started, signal received and search-attribute upsert
is one, except the SDK's own \`TemporalChangeVersion\` upsert, which is exempt; a schedule adds
two per run. Queries are billed but do not appear in a history; none of these runs is queried.

Each purchase goes through the gateway path (\`ingestStripeEvent\`: inbox, audit, start) on the
time-skipping test server, so the 24 h and 7 d reminder timers fire, with the real activities on
a throwaway database and payloads encrypted as in production: a known-account purchase
(\`metadata.user_id\` set: one reminder check at 24 h) and a guest who never claims (both
reminders).

Where the actions go, per purchase: the start (1); the first workflow task, whose local
activities record the purchase and check storage + activate the entitlements, with the patch
marker — all markers of one task, 1; the receipt, an activity that also records analytics and
completes the job (1); two upserts, each a status a platform engineer can see — \`pending_email\`
with \`CustomerEmail\` before the receipt, \`completed\` before the reminders (2); the 24 h timer
(1) and its reminder check (1) — and for a guest the 7-day timer and check (2 more).

The floor is a **bare workflow** (\`bench/bare-workflow.ts\`) of the same shape: the
${shape.localActivities} local and ${shape.activities} regular no-op activities the known-account
fulfillment ran before its first timer, counted the same way: the least a workflow running
those steps is billed. The difference is the visible statuses (upserts) and the reminders.

${tables.markdown}

${ratios.replace(/(\d+\.\d+)/g, '**$1**')}

**Periodic work, per day.** Stuck detection runs in the workers as a periodic job
(\`worker/periodic.ts\`: one turn per interval across the fleet, claimed in PostgreSQL), so it
costs no action at any load; the \`ops-stuck-scan\` schedule it replaced is shown for
comparison. The daily reconciliation remains a schedule (one run a day, its catch-up after an
outage is the point of a schedule).

${formatMarkdownTable(DAILY_HEADER, daily)}

${formatMarkdownTable(['target', 'measured', 'result'], targets)}

Histories counted: ${figures.knownAccount.workflowId} (known account), ${figures.guest.workflowId} (guest), ${bare.workflowId} (bare).
`;
    await writeBenchmarkSection('actions', section);
  } finally {
    progress('stopping');
    await cleanups.runAll();
  }
}
