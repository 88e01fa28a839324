// The parts every chaos scenario is built from. Each scenario starts its own components —
// a Temporal dev server with its own SQLite file, its own database, the api and the worker as
// child processes (`npm run api` / `npm run worker` entry points) — so a SIGKILL is real and
// nothing another run or test does on this machine can change the outcome.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { sql } from 'kysely';
import { createLocalStorage } from '../drivers/storage/driver.ts';
import { connectDatabase } from '../db/connect.ts';
import type { Db } from '../db/database.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { generatePayloadKeyEntry, parsePayloadKeys } from '../security/payload-codec.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { workflowsPath } from '../worker/worker.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { getFreePort, spawnManaged, waitFor, type ManagedProcess } from '../stack/processes.ts';
import { seedDemoAssets } from '../stack/demo-data.ts';
import { signStripePayload } from '../stack/stripe-events.ts';
import { startTemporalDevServer, type DevServer } from '../stack/temporal-dev-server.ts';
import { adminDatabaseUrl, createThrowawayDatabase } from '../stack/throwaway-database.ts';

export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const SKU = 'ebook-durable-execution';

export type Scale = 'short' | 'full';

/** What a scenario reports: its verdict, the figures behind it and what went wrong. */
export interface ScenarioResult {
  passed: boolean;
  /** One line of figures, printed after PASS/FAIL and written to docs/RELIABILITY.md. */
  figures: string;
  /** Every violated expectation, in words; empty when the scenario passed. */
  failures: string[];
}

export interface Scenario {
  name: string;
  title: string;
  run(scale: Scale, log: (message: string) => void): Promise<ScenarioResult>;
}

/** Collects expectations; the scenario passes when every one held. */
export function createVerdict() {
  const failures: string[] = [];
  return {
    failures,
    expect(ok: boolean, failure: string): void {
      if (!ok) failures.push(failure);
    },
    result(figures: string): ScenarioResult {
      return { passed: failures.length === 0, figures, failures: [...failures] };
    },
  };
}

/** Teardown steps run newest first, each one even when an earlier one failed. */
export class Cleanups {
  private readonly steps: { name: string; step: () => Promise<unknown> }[] = [];
  add(name: string, step: () => Promise<unknown>): void {
    this.steps.push({ name, step });
  }
  async runAll(): Promise<void> {
    for (const { name, step } of this.steps.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`[chaos] cleanup "${name}" failed:`, error);
      }
    }
    this.steps.length = 0;
  }
}

let bundlePromise: Promise<string> | null = null;

/**
 * The workflow bundle every scenario's worker loads (built once per process), as production
 * workers load a prebuilt bundle: a worker restarted after a SIGKILL polls again in seconds.
 */
export function prebuiltWorkflowBundle(): Promise<string> {
  bundlePromise ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-chaos-bundle-'));
    process.once('exit', () => void rm(dir, { recursive: true, force: true }));
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
    const file = path.join(dir, 'workflow-bundle.js');
    await writeFile(file, bundle.code);
    return file;
  })();
  return bundlePromise;
}

const noop = (): void => undefined;
export const quietLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: console.error,
  log: noop,
};

/**
 * Waits until a worker process with `pid` polls `taskQueue` (Temporal lists its pollers by
 * identity `<pid>@<host>`): the moment it can take work, not just the moment it started.
 */
export async function waitForPoller(
  temporal: Client,
  taskQueue: string,
  pid: number,
  options: { timeoutMs?: number; intervalMs?: number; abort?: () => string | null } = {},
): Promise<void> {
  await waitFor(
    `worker ${pid} polling ${taskQueue}`,
    async () => {
      const description = await temporal.workflowService.describeTaskQueue({
        namespace: temporal.options.namespace,
        taskQueue: { name: taskQueue },
        // 1: workflow tasks — the queue a worker polls first.
        taskQueueType: 1,
      });
      return (description.pollers ?? []).some((poller) =>
        (poller.identity ?? '').startsWith(`${pid}@`),
      );
    },
    { timeoutMs: 60_000, intervalMs: 100, ...options },
  );
}

/**
 * The environment the api and worker processes (`scripts/api.ts`, `scripts/worker.ts`) run
 * with here: this machine's components, payloads encrypted, no fixed ports.
 */
export function serviceEnv(options: {
  databaseUrl: string;
  temporalAddress: string;
  /** `PAYLOAD_ENCRYPTION_KEYS`, e.g. from `generatePayloadKeyEntry`. */
  payloadKeys: string;
  storageDir: string;
  apiPort?: number;
  webhookSecrets?: string[];
  /** Without it the worker bundles workflows/ at start. */
  workflowBundlePath?: string;
  /** The Resend stand-in; without it email goes to the outbox driver. */
  resendUrl?: string;
}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    // Production mode refuses the local storage driver and localhost URLs this machine needs.
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(options.apiPort ?? 0),
    DATABASE_URL: options.databaseUrl,
    TEMPORAL_ADDRESS: options.temporalAddress,
    TEMPORAL_NAMESPACE: 'default',
    PAYLOAD_ENCRYPTION_KEYS: options.payloadKeys,
    SEARCH_ATTRIBUTE_HASH_KEY: randomBytes(32).toString('hex'),
    // Never called: every event here carries its SKUs and the buyer's email.
    STRIPE_SECRET_KEY: 'sk_test_chaos',
    STRIPE_WEBHOOK_SECRETS: (
      options.webhookSecrets ?? [`whsec_${randomBytes(16).toString('hex')}`]
    ).join(','),
    STRIPE_GAP_CHECK_INTERVAL_MINUTES: '0',
    // Load from one address is the point here, not the per-client limit.
    WEBHOOK_RATE_LIMIT_PER_MINUTE: '1000000',
    WEBHOOK_RELAY_INTERVAL_SECONDS: '1',
    STORAGE_DRIVER: 'local',
    STORAGE_LOCAL_DIR: options.storageDir,
    DOWNLOAD_TOKEN_SECRETS: randomBytes(32).toString('hex'),
    EMAIL_FALLBACK_DRIVER: 'none',
    ...(options.resendUrl
      ? { EMAIL_DRIVER: 'resend', RESEND_API_KEY: 're_chaos', RESEND_API_URL: options.resendUrl }
      : { EMAIL_DRIVER: 'outbox' }),
    // The worker's /metrics is not needed here; a fixed port would collide with other runs.
    WORKER_METRICS_PORT: '0',
    // Stopping at the end of a scenario need not wait for in-flight work.
    SHUTDOWN_GRACE_SECONDS: '1',
  };
  if (options.workflowBundlePath) env['WORKFLOW_BUNDLE_PATH'] = options.workflowBundlePath;
  else delete env['WORKFLOW_BUNDLE_PATH'];
  return env;
}

export interface ChaosStackOptions {
  /** The PostgreSQL server to create the scenario's database on (default: the machine's). */
  adminUrl?: string;
  /** Keep Temporal's state in a SQLite file, so the dev server can be killed and restarted. */
  durableTemporal?: boolean;
  /** The Resend stand-in's URL; without it the worker uses the outbox driver. */
  resendUrl?: string;
  /** Signing secrets the api accepts (default: one fresh secret). */
  webhookSecrets?: string[];
}

export interface ChaosStack {
  db: Db;
  temporal: Client;
  apiUrl: string;
  webhookSecrets: string[];
  devServer: DevServer;
  api: ManagedProcess;
  worker: ManagedProcess;
  /**
   * Every exit of the api or the worker that the scenario did not cause, with the process's
   * last lines. The harness restarts such a process a second later, as an orchestrator would,
   * so the scenario still measures recovery; a scenario fails on any crash.
   */
  crashes: string[];
  /** Starts (or restarts) the worker process and resolves once it polls. */
  startWorker(): Promise<ManagedProcess>;
  /** SIGKILLs the worker process and resolves once it is gone. */
  killWorker(): Promise<void>;
  /** SIGKILLs the Temporal dev server (its SQLite file stays). */
  killTemporal(): Promise<void>;
  /** Starts the dev server again on the same port and file. */
  restartTemporal(): Promise<void>;
  /** Posts an event signed with the first secret; the answer's status, or null without one. */
  postEvent(
    event: unknown,
    options?: { secret?: string; timestamp?: number },
  ): Promise<number | null>;
}

/** Kills a child with SIGKILL and waits for it to be reaped. */
export async function killHard(process: ManagedProcess): Promise<void> {
  const { child } = process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/**
 * Boots one scenario's service: database (migrated, demo catalog), Temporal dev server,
 * storage folder, the api and the worker as child processes running the npm entry points.
 */
export async function startChaosStack(
  cleanups: Cleanups,
  options: ChaosStackOptions = {},
): Promise<ChaosStack> {
  const database = await createThrowawayDatabase(
    'fulfillment_chaos',
    options.adminUrl ?? adminDatabaseUrl(),
  );
  cleanups.add('database', () => database.drop());
  const db = await connectDatabase({ kind: 'postgres', url: database.url });
  cleanups.add('database pool', () => db.destroy());

  const dir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-chaos-'));
  cleanups.add('scenario folder', () => rm(dir, { recursive: true, force: true }));
  const storageDir = path.join(dir, 'storage');
  await seedDemoAssets(createLocalStorage(storageDir));

  const temporalPort = await getFreePort();
  const devServerOptions = {
    port: temporalPort,
    uiPort: null,
    ...(options.durableTemporal ? { dbFile: path.join(dir, 'temporal.sqlite') } : {}),
  };
  let devServer = await startTemporalDevServer(devServerOptions);
  cleanups.add('temporal dev server', () => devServer.stop());
  // Payloads encrypted as in production; this client reads them with the same key.
  const payloadKeys = generatePayloadKeyEntry('chaos');
  const temporal = await connectTemporalClient(
    temporalTargetFromConfig({
      TEMPORAL_ADDRESS: devServer.address,
      TEMPORAL_NAMESPACE: 'default',
      PAYLOAD_ENCRYPTION_KEYS: parsePayloadKeys(payloadKeys),
    }),
  );
  cleanups.add('temporal client', () => temporal.connection.close());

  const apiPort = await getFreePort();
  const webhookSecrets = options.webhookSecrets ?? [`whsec_${randomBytes(16).toString('hex')}`];
  const env = serviceEnv({
    databaseUrl: database.url,
    temporalAddress: devServer.address,
    payloadKeys,
    storageDir,
    apiPort,
    webhookSecrets,
    workflowBundlePath: await prebuiltWorkflowBundle(),
    ...(options.resendUrl ? { resendUrl: options.resendUrl } : {}),
  });
  const spawnEntry = (script: string, extraEnv: NodeJS.ProcessEnv = {}): ManagedProcess =>
    spawnManaged(process.execPath, [path.join(REPO_ROOT, 'scripts', script)], {
      cwd: dir,
      env: { ...env, ...extraEnv },
    });
  const exitedEarly = (child: ManagedProcess) => () =>
    child.child.exitCode !== null
      ? `exited with code ${child.child.exitCode}:\n${child.recentOutput()}`
      : null;

  const crashes: string[] = [];
  const intended = new WeakSet<ManagedProcess>();
  /** Records an exit nobody asked for and starts the process again after a second. */
  const supervise = (child: ManagedProcess, name: string, restart: () => Promise<unknown>) => {
    // The spawn helper keeps 40 lines; a crash's reason can sit above a long object dump.
    const lines: string[] = [];
    const keep = (chunk: Buffer): void => {
      lines.push(...chunk.toString('utf8').split('\n'));
      if (lines.length > 400) lines.splice(0, lines.length - 400);
    };
    child.child.stdout?.on('data', keep);
    child.child.stderr?.on('data', keep);
    child.child.once('exit', (code, signal) => {
      if (intended.has(child)) return;
      // The thrown error's own line says why; the stack below it rarely adds to that.
      const reason =
        lines.find((line) => /^\s*(\w*Error\b|error:)/.test(line)) ??
        lines.find((line) => /error/i.test(line)) ??
        lines.filter(Boolean).at(-1) ??
        '';
      crashes.push(
        `${name} ${child.child.pid} exited (${signal ?? `code ${code}`}): ${reason.trim()}`,
      );
      setTimeout(
        () => void restart().catch((error: unknown) => crashes.push(String(error))),
        1_000,
      );
    });
  };
  const stopIntended = (child: ManagedProcess) => () => {
    intended.add(child);
    return child.stop();
  };

  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const startApi = async (): Promise<ManagedProcess> => {
    const api = spawnEntry('api.ts');
    cleanups.add('api', stopIntended(api));
    await waitFor('api', async () => (await fetch(`${apiUrl}/healthz`)).ok, {
      abort: exitedEarly(api),
    });
    supervise(api, 'api', async () => (stack.api = await startApi()));
    return api;
  };
  const api = await startApi();

  const stack: ChaosStack = {
    db,
    temporal,
    apiUrl,
    webhookSecrets,
    get devServer() {
      return devServer;
    },
    api,
    worker: api,
    crashes,
    async startWorker() {
      // The SDK's metrics exporter cannot be turned off by env; a free port keeps it apart.
      const worker = spawnEntry('worker.ts', {
        TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await getFreePort()}`,
      });
      cleanups.add('worker', stopIntended(worker));
      stack.worker = worker;
      await waitForPoller(temporal, FULFILLMENT_TASK_QUEUE, worker.child.pid!, {
        abort: exitedEarly(worker),
      });
      supervise(worker, 'worker', () => stack.startWorker());
      return worker;
    },
    killWorker: () => {
      intended.add(stack.worker);
      return killHard(stack.worker);
    },
    killTemporal: () => killHard(devServer.process),
    async restartTemporal() {
      devServer = await startTemporalDevServer(devServerOptions);
    },
    async postEvent(event, { secret = webhookSecrets[0]!, timestamp } = {}) {
      const payload = JSON.stringify(event);
      return postRaw(apiUrl, payload, signStripePayload(payload, secret, timestamp));
    },
  };
  await stack.startWorker();
  return stack;
}

/** Posts a raw body with a Stripe-Signature header; the status, or null without an answer. */
export async function postRaw(
  apiUrl: string,
  payload: string,
  signature: string,
): Promise<number | null> {
  try {
    const response = await fetch(`${apiUrl}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      body: payload,
      // Past the api's own Temporal deadline (5 s) and a stalled database connection.
      signal: AbortSignal.timeout(20_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return null;
  }
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

/** Per purchase key: orders, entitlements, delivery-email rows and the job's status. */
export interface PurchaseTally {
  orders: number;
  entitlements: number;
  entitlementStatuses: string[];
  emailKinds: string[];
  emailKeys: string[];
  unsentEmails: number;
  jobStatuses: string[];
}

/** What the purchases left in the database, one tally per purchase key (missing ones empty). */
export async function tallyPurchases(
  db: Db,
  purchaseKeys: readonly string[],
): Promise<Map<string, PurchaseTally>> {
  const keys = [...purchaseKeys];
  const tallies = new Map<string, PurchaseTally>(
    keys.map((key) => [
      key,
      {
        orders: 0,
        entitlements: 0,
        entitlementStatuses: [],
        emailKinds: [],
        emailKeys: [],
        unsentEmails: 0,
        jobStatuses: [],
      },
    ]),
  );
  const anyKey = sql<boolean>`orders.purchase_key = any(${keys}::text[])`;
  const orders = await db
    .selectFrom('orders')
    .select(['id', 'purchase_key'])
    .where(anyKey)
    .execute();
  const byOrder = new Map(orders.map((order) => [order.id, order.purchase_key]));
  for (const order of orders) tallies.get(order.purchase_key)!.orders += 1;
  if (orders.length === 0) return tallies;
  const orderIds = orders.map((order) => order.id);
  const tallyOf = (orderId: string) => tallies.get(byOrder.get(orderId)!)!;
  for (const row of await db
    .selectFrom('entitlements')
    .select(['order_id', 'status'])
    .where('order_id', 'in', orderIds)
    .execute()) {
    const tally = tallyOf(row.order_id);
    tally.entitlements += 1;
    if (!tally.entitlementStatuses.includes(row.status)) tally.entitlementStatuses.push(row.status);
  }
  for (const row of await db
    .selectFrom('email_deliveries')
    .select(['order_id', 'kind', 'status', 'idempotency_key'])
    .where('order_id', 'in', orderIds)
    .execute()) {
    if (row.order_id === null) continue;
    const tally = tallyOf(row.order_id);
    tally.emailKinds.push(row.kind);
    tally.emailKeys.push(row.idempotency_key);
    if (row.status !== 'sent') tally.unsentEmails += 1;
  }
  for (const row of await db
    .selectFrom('fulfillment_jobs')
    .select(['order_id', 'status'])
    .where('order_id', 'in', orderIds)
    .execute()) {
    tallyOf(row.order_id).jobStatuses.push(row.status);
  }
  for (const tally of tallies.values()) tally.emailKinds.sort();
  return tallies;
}

/**
 * Polls until every purchase's tally satisfies `done`; returns the tallies and how long it
 * took, or the last tallies when `timeoutMs` ran out (the scenario then reports what is missing).
 */
export async function waitForTallies(
  db: Db,
  purchaseKeys: readonly string[],
  done: (tally: PurchaseTally) => boolean,
  timeoutMs: number,
  log?: (message: string) => void,
): Promise<{ tallies: Map<string, PurchaseTally>; seconds: number; complete: boolean }> {
  const startedAt = Date.now();
  let reportedAt = startedAt;
  for (;;) {
    const tallies = await tallyPurchases(db, purchaseKeys);
    const finished = [...tallies.values()].filter(done).length;
    const seconds = (Date.now() - startedAt) / 1000;
    if (finished === purchaseKeys.length || Date.now() - startedAt > timeoutMs)
      return { tallies, seconds, complete: finished === purchaseKeys.length };
    if (log && Date.now() - reportedAt > 10_000) {
      log(`${finished} of ${purchaseKeys.length} purchases settled`);
      reportedAt = Date.now();
    }
    await sleep(500);
  }
}

/** A completed fulfillment: one order, its entitlement usable, the delivery email sent. */
export const deliveredOnce = (tally: PurchaseTally): boolean =>
  tally.orders === 1 &&
  tally.jobStatuses.join() === 'completed' &&
  tally.emailKinds.join() === 'delivery' &&
  tally.unsentEmails === 0;

/** How many sends the provider accepted per idempotency key. */
export function sendsPerKey(
  sent: readonly { idempotencyKey: string | null }[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of sent) {
    const key = message.idempotencyKey ?? '(none)';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** A scenario fails when the api or the worker died of anything it did not do itself. */
export function expectNoCrashes(
  verdict: ReturnType<typeof createVerdict>,
  stack: Pick<ChaosStack, 'crashes'>,
): void {
  verdict.expect(
    stack.crashes.length === 0,
    `${stack.crashes.length} unplanned process exits (restarted): ${stack.crashes.join('; ')}`,
  );
}

export const count = <T>(items: Iterable<T>, predicate: (item: T) => boolean): number => {
  let total = 0;
  for (const item of items) if (predicate(item)) total += 1;
  return total;
};
