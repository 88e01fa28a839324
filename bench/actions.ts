// Billable Temporal actions per purchase, counted from real histories. `npm run bench --
// actions` reports them against a bare workflow's floor; the fulfillment benchmark reuses the
// same count.
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, Worker } from '@temporalio/worker';
import { createActivities } from '../activities/index.ts';
import type { Config } from '../config/env.ts';
import { connectDatabase } from '../db/connect.ts';
import type { Db } from '../db/database.ts';
import { ingestStripeEvent } from '../gateway/ingest.ts';
import { generatePayloadKeyEntry } from '../security/payload-codec.ts';
import { payloadDataConverter } from '../temporal/data-converter.ts';
import { workflowsPath } from '../worker/worker.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { createActivityDeps } from '../scripts/lib/worker-deps.ts';
import { Cleanups } from '../stack/cleanups.ts';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import { createDemoStorageDir } from '../stack/demo-data.ts';
import { describeMachine, formatMarkdownTable } from '../stack/measurement-docs.ts';
import { buildPaymentIntentSucceededEvent } from '../stack/stripe-events.ts';
import { createThrowawayDatabase } from '../stack/throwaway-database.ts';
import { startTimeSkippingServer } from '../stack/time-skipping.ts';
import type { BareActivities, bareWorkflow } from './bare-workflow.ts';
import {
  benchConfig,
  formatTextTable,
  progress,
  UsageError,
  writeBenchmarkSection,
} from './lib.ts';

const BARE_WORKFLOWS_PATH = fileURLToPath(new URL('./bare-workflow.ts', import.meta.url));
const BARE_TASK_QUEUE = 'bench-bare-actions';

export const TARGET_ACTIONS_KNOWN_ACCOUNT = 7;
export const TARGET_ACTIONS_GUEST = 10;

type History = Awaited<ReturnType<WorkflowHandle['fetchHistory']>>;
type HistoryEvent = NonNullable<History['events']>[number];

/**
 * What Temporal Cloud bills, by history event: each kind is one action per event. Queries,
 * workflow tasks and activity retries are not actions; none of our runs has child workflows,
 * external signals, updates or heartbeats.
 */
export const BILLABLE_EVENTS = [
  ['workflow started', 'workflowExecutionStartedEventAttributes'],
  ['activities scheduled', 'activityTaskScheduledEventAttributes'],
  ['timers started', 'timerStartedEventAttributes'],
  ['signals received', 'workflowExecutionSignaledEventAttributes'],
  ['search attribute upserts', 'upsertWorkflowSearchAttributesEventAttributes'],
  ['markers (side effects, patches)', 'markerRecordedEventAttributes'],
] as const satisfies readonly (readonly [string, keyof HistoryEvent])[];

type ActionKind = (typeof BILLABLE_EVENTS)[number][0];

export interface ActionCount {
  workflowId: string;
  byKind: Record<ActionKind, number>;
  total: number;
  /** Activities scheduled before the first timer: the steps, without reminders. */
  activitiesBeforeFirstTimer: number;
}

export function countBillableActions(workflowId: string, history: History): ActionCount {
  const events = history.events ?? [];
  const byKind = Object.fromEntries(
    BILLABLE_EVENTS.map(([kind, field]) => [
      kind,
      events.filter((event) => event[field] != null).length,
    ]),
  ) as Record<ActionKind, number>;
  const total = Object.values(byKind).reduce((sum, count) => sum + count, 0);
  const firstTimer = events.findIndex((event) => event.timerStartedEventAttributes != null);
  const activitiesBeforeFirstTimer = (
    firstTimer === -1 ? events : events.slice(0, firstTimer)
  ).filter((event) => event.activityTaskScheduledEventAttributes != null).length;
  return { workflowId, byKind, total, activitiesBeforeFirstTimer };
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
  /** The floor: a bare workflow with as many no-op activities as the fulfillment steps. */
  bare?: ActionCount;
}

/**
 * The reminders wait 24 h and 7 d, so these runs go to the time-skipping test server, with a
 * worker on `db`. With `withBaseline`, a bare workflow runs as many no-op activities as the
 * known-account fulfillment scheduled before its first timer, on a worker of its own.
 */
export async function countActionsPerFulfillment(
  cleanups: Cleanups,
  config: Config,
  db: Db,
  signal: AbortSignal,
  { withBaseline = false }: { withBaseline?: boolean } = {},
): Promise<ActionFigures> {
  progress('starting the time-skipping test server for the reminder timers');
  const dataConverter = payloadDataConverter(config.PAYLOAD_ENCRYPTION_KEYS);
  const env = await startTimeSkippingServer(undefined, dataConverter);
  cleanups.add('time-skipping test server', () => env.teardown());
  signal.throwIfAborted();
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: FULFILLMENT_TASK_QUEUE,
    ...(dataConverter ? { dataConverter } : {}),
    workflowBundle: await bundleWorkflowCode({
      workflowsPath,
      logger: new DefaultLogger('WARN'),
    }),
    activities: createActivities(createActivityDeps(config, db)),
  });
  progress('running a known-account and a guest fulfillment through every reminder');
  const figures: ActionFigures = await worker.runUntil(async () => ({
    knownAccount: await fulfillToTheEnd(env.client, db, KNOWN_ACCOUNT_BUYER),
    guest: await fulfillToTheEnd(env.client, db, GUEST_BUYER),
  }));
  signal.throwIfAborted();
  if (!withBaseline) return figures;

  progress('running the bare workflow with as many no-op activities');
  const bareActivities: BareActivities = { noop: async () => {} };
  const bareWorker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: BARE_TASK_QUEUE,
    ...(dataConverter ? { dataConverter } : {}),
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: BARE_WORKFLOWS_PATH,
      logger: new DefaultLogger('WARN'),
    }),
    activities: bareActivities,
  });
  const workflowId = `bench-bare-actions-${Date.now()}`;
  figures.bare = await bareWorker.runUntil(async () => {
    const handle = await env.client.workflow.start<typeof bareWorkflow>('bareWorkflow', {
      taskQueue: BARE_TASK_QUEUE,
      workflowId,
      args: [figures.knownAccount.activitiesBeforeFirstTimer],
    });
    await handle.result();
    return countBillableActions(workflowId, await handle.fetchHistory());
  });
  return figures;
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
    ...BILLABLE_EVENTS.map(([kind]) => [
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

function parseActionArgs(args: string[]): void {
  try {
    parseArgs({ args, options: {} });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/**
 * `npm run bench -- actions`: billable actions of a known-account purchase and a guest's who
 * never claims, against a bare workflow with as many activities; prints the table and
 * rewrites the `## actions` section of docs/BENCHMARKS.md.
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
    });
    const bare = figures.bare!;
    const ratio = (count: ActionCount): string => (count.total / bare.total).toFixed(2);
    const targets = [
      [
        `known account ≤ ${TARGET_ACTIONS_KNOWN_ACCOUNT}`,
        String(figures.knownAccount.total),
        figures.knownAccount.total <= TARGET_ACTIONS_KNOWN_ACCOUNT ? 'met' : 'missed',
      ],
      [
        `guest with both reminders ≤ ${TARGET_ACTIONS_GUEST}`,
        String(figures.guest.total),
        figures.guest.total <= TARGET_ACTIONS_GUEST ? 'met' : 'missed',
      ],
    ];
    const tables = actionTables(figures);
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
        formatTextTable(['target', 'measured', 'result'], targets),
      ].join('\n'),
    );

    const section = `
Measured ${measuredAt} on ${describeMachine()}.

\`\`\`sh
npm run bench -- actions
\`\`\`

Billable Temporal (Cloud) actions per purchase, counted from the recorded histories of real
runs: each purchase goes through the gateway path (\`ingestStripeEvent\`: inbox, audit, start)
on the time-skipping test server, so the 24 h and 7 d reminder timers fire, with the real
activities on a throwaway database and payloads encrypted as in production. A known-account
purchase (\`metadata.user_id\` set) and a guest who never claims (both reminders). One action per
workflow start, scheduled activity (retries are not separate actions), timer started, signal
received, search attribute upsert and marker (side effects, patches); queries are not in the
history and cost none.

The floor is a **bare workflow** (\`bench/bare-workflow.ts\`) that runs as many no-op
activities one after another as the known-account fulfillment scheduled before its first
timer (${figures.knownAccount.activitiesBeforeFirstTimer}), counted the same way: the least any workflow doing those steps
as activities is billed.

${tables.markdown}

${ratios.replace(/(\d+\.\d+)/g, '**$1**')}

${formatMarkdownTable(['target', 'measured', 'result'], targets)}

Histories counted: ${figures.knownAccount.workflowId} (known account), ${figures.guest.workflowId} (guest), ${bare.workflowId} (bare).
`;
    await writeBenchmarkSection('actions', section);
  } finally {
    progress('stopping');
    await cleanups.runAll();
  }
}
