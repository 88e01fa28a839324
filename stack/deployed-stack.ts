// The service as it is deployed, on this machine: the api and the worker as child processes
// running the npm entry points (`scripts/api.ts`, `scripts/worker.ts`), on a Temporal dev
// server and a throwaway database of their own. A SIGKILL is real, and nothing another run or
// test does on this machine changes what they see.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { connectDatabase } from '../db/connect.ts';
import type { Db } from '../db/database.ts';
import { createLocalStorage } from '../drivers/storage/driver.ts';
import { generatePayloadKeyEntry, parsePayloadKeys } from '../security/payload-codec.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { makeScratchDir, type Cleanups } from './cleanups.ts';
import { seedDemoAssets } from './demo-data.ts';
import { postWebhook } from './load.ts';
import { getFreePort, killHard, spawnManaged, waitFor, type ManagedProcess } from './processes.ts';
import { signStripePayload } from './stripe-events.ts';
import { startTemporalDevServer, type DevServer } from './temporal-dev-server.ts';
import { adminDatabaseUrl, createThrowawayDatabase } from './throwaway-database.ts';
import { prebuiltWorkflowBundle, REPO_ROOT } from './workflow-bundle.ts';

/**
 * The environment the api and worker processes run with here: this machine's components,
 * payloads encrypted, no fixed ports.
 */
export function deployedProcessEnv(options: {
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
    // Stopping at the end of a run need not wait for in-flight work.
    SHUTDOWN_GRACE_SECONDS: '1',
  };
  if (options.workflowBundlePath) env['WORKFLOW_BUNDLE_PATH'] = options.workflowBundlePath;
  else delete env['WORKFLOW_BUNDLE_PATH'];
  return env;
}

/**
 * The worker's V8 old-space cap in MiB, as deploy/kubernetes/worker.yaml starts it
 * (`node --max-old-space-size=…`). Without it V8 sizes the heap from the machine's memory and
 * lets garbage pile up: the workflow sandbox's per-run state (the OpenTelemetry interceptors')
 * held the worker near 1.6 GiB with 10,000 open runs (docs/BENCHMARKS.md "findings"). The
 * live set is the sticky cache (about 0.45 MiB a workflow, 500 by default) and the bundle.
 */
export const WORKER_OLD_SPACE_MB = 512;

/** Spawns a Node program of this repository (e.g. `scripts/worker.ts`) as a managed child. */
export function spawnRepoScript(
  script: string,
  args: string[],
  options: { env: NodeJS.ProcessEnv; cwd: string },
): ManagedProcess {
  return spawnManaged(process.execPath, [path.join(REPO_ROOT, script), ...args], options);
}

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

export interface LocalComponentsOptions {
  /** Names what is created: database `fulfillment_<name>_<random>`, folder `fulfillment-<name>-…`. */
  name: string;
  /** The PostgreSQL server to create the database on (default: the machine's). */
  adminUrl?: string;
  /** Keep Temporal's state in a SQLite file, so the dev server can be killed and restarted. */
  durableTemporal?: boolean;
}

/** What the processes run on; everything is stopped and removed by the cleanups. */
export interface LocalComponents {
  databaseUrl: string;
  /** A pool of its own on the database. */
  db: Db;
  /** A scratch folder: the storage, the Temporal state file, the processes' working folder. */
  dir: string;
  /** Local storage holding the demo catalog's files (STORAGE_LOCAL_DIR). */
  storageDir: string;
  /** PAYLOAD_ENCRYPTION_KEYS: payloads encrypted as in production. */
  payloadKeys: string;
  /** The Temporal dev server as it runs now (a restart replaces it). */
  readonly devServer: DevServer;
  /** A client on the dev server that reads payloads with `payloadKeys`. */
  temporal: Client;
  /** SIGKILLs the Temporal dev server (its SQLite file stays). */
  killTemporal(): Promise<void>;
  /** Starts the dev server again on the same port and file. */
  restartTemporal(): Promise<void>;
}

/**
 * A throwaway database (migrated, demo catalog), a scratch folder with the demo files in
 * storage, and a headless Temporal dev server with a client that encrypts payloads.
 */
export async function startLocalComponents(
  cleanups: Cleanups,
  options: LocalComponentsOptions,
): Promise<LocalComponents> {
  const database = await createThrowawayDatabase(
    `fulfillment_${options.name}`,
    options.adminUrl ?? adminDatabaseUrl(),
  );
  cleanups.add('database', () => database.drop());
  const db = await connectDatabase({ kind: 'postgres', url: database.url });
  cleanups.add('database pool', () => db.destroy());

  const dir = await makeScratchDir(cleanups, `fulfillment-${options.name}-`);
  const storageDir = path.join(dir, 'storage');
  await seedDemoAssets(createLocalStorage(storageDir));

  const devServerOptions = {
    port: await getFreePort(),
    uiPort: null,
    ...(options.durableTemporal ? { dbFile: path.join(dir, 'temporal.sqlite') } : {}),
  };
  let devServer = await startTemporalDevServer(devServerOptions);
  cleanups.add('temporal dev server', () => devServer.stop());
  const payloadKeys = generatePayloadKeyEntry(options.name);
  const temporal = await connectTemporalClient(
    temporalTargetFromConfig({
      TEMPORAL_ADDRESS: devServer.address,
      TEMPORAL_NAMESPACE: 'default',
      PAYLOAD_ENCRYPTION_KEYS: parsePayloadKeys(payloadKeys),
    }),
  );
  cleanups.add('temporal client', () => temporal.connection.close());
  return {
    databaseUrl: database.url,
    db,
    dir,
    storageDir,
    payloadKeys,
    get devServer() {
      return devServer;
    },
    temporal,
    killTemporal: () => killHard(devServer.process),
    async restartTemporal() {
      devServer = await startTemporalDevServer(devServerOptions);
    },
  };
}

export interface DeployedStackOptions extends LocalComponentsOptions {
  /** The Resend stand-in's URL; without it the worker uses the outbox driver. */
  resendUrl?: string;
  /** Signing secrets the api accepts (default: one fresh secret). */
  webhookSecrets?: string[];
  /** More environment for both processes (WORKER_METRICS_PORT, OTEL_TRACES_EXPORTER…). */
  env?: NodeJS.ProcessEnv;
}

export interface DeployedStack extends LocalComponents {
  apiUrl: string;
  webhookSecrets: string[];
  api: ManagedProcess;
  worker: ManagedProcess;
  /**
   * Every exit of the api or the worker that nobody asked for, with the reason the process
   * printed. Such a process is started again a second later, as an orchestrator would, so a
   * run still measures recovery; whoever started the stack decides what a crash means.
   */
  crashes: string[];
  /** Starts (or restarts) the worker process and resolves once it polls. */
  startWorker(): Promise<ManagedProcess>;
  /** SIGKILLs the worker process and resolves once it is gone. */
  killWorker(): Promise<void>;
  /** Posts an event signed with the first secret; the answer's status, or null without one. */
  postEvent(
    event: unknown,
    options?: { secret?: string; timestamp?: number },
  ): Promise<number | null>;
}

/** Records an exit nobody asked for and starts the process again after a second. */
function superviseCrashes(
  child: ManagedProcess,
  name: string,
  crashes: string[],
  intended: WeakSet<ManagedProcess>,
  restart: () => Promise<unknown>,
): void {
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
    setTimeout(() => void restart().catch((error: unknown) => crashes.push(String(error))), 1_000);
  });
}

/**
 * The deployed service on local components: the api and the worker as child processes running
 * the npm entry points with the prebuilt workflow bundle, each restarted after a crash.
 */
export async function startDeployedStack(
  cleanups: Cleanups,
  options: DeployedStackOptions,
): Promise<DeployedStack> {
  const components = await startLocalComponents(cleanups, options);
  const apiPort = await getFreePort();
  const webhookSecrets = options.webhookSecrets ?? [`whsec_${randomBytes(16).toString('hex')}`];
  const env = deployedProcessEnv({
    databaseUrl: components.databaseUrl,
    temporalAddress: components.devServer.address,
    payloadKeys: components.payloadKeys,
    storageDir: components.storageDir,
    apiPort,
    webhookSecrets,
    workflowBundlePath: await prebuiltWorkflowBundle(),
    ...(options.resendUrl ? { resendUrl: options.resendUrl } : {}),
  });
  Object.assign(env, options.env);
  const spawnEntryPoint = (script: string, extraEnv: NodeJS.ProcessEnv = {}): ManagedProcess =>
    spawnRepoScript(`scripts/${script}`, [], { cwd: components.dir, env: { ...env, ...extraEnv } });

  const crashes: string[] = [];
  const intended = new WeakSet<ManagedProcess>();
  const stopIntended = (child: ManagedProcess) => () => {
    intended.add(child);
    return child.stop();
  };

  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const startApi = async (): Promise<ManagedProcess> => {
    const api = spawnEntryPoint('api.ts');
    cleanups.add('api', stopIntended(api));
    await waitFor('api', async () => (await fetch(`${apiUrl}/healthz`)).ok, {
      abort: () => api.exitReason(),
    });
    superviseCrashes(api, 'api', crashes, intended, async () => (stack.api = await startApi()));
    return api;
  };
  const startWorker = async (): Promise<ManagedProcess> => {
    // The SDK's metrics exporter cannot be turned off by env; a free port keeps it apart.
    const worker = spawnEntryPoint('worker.ts', {
      TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await getFreePort()}`,
    });
    cleanups.add('worker', stopIntended(worker));
    stack.worker = worker;
    await waitForPoller(
      components.temporal,
      env['TEMPORAL_TASK_QUEUE'] ?? FULFILLMENT_TASK_QUEUE,
      worker.child.pid!,
      {
        abort: () => worker.exitReason(),
      },
    );
    superviseCrashes(worker, 'worker', crashes, intended, startWorker);
    return worker;
  };

  const api = await startApi();
  const stack: DeployedStack = Object.assign(components, {
    apiUrl,
    webhookSecrets,
    api,
    worker: api,
    crashes,
    startWorker,
    killWorker: () => {
      intended.add(stack.worker);
      return killHard(stack.worker);
    },
    async postEvent(
      event: unknown,
      { secret = webhookSecrets[0]!, timestamp }: { secret?: string; timestamp?: number } = {},
    ) {
      const payload = JSON.stringify(event);
      return postWebhook(apiUrl, payload, signStripePayload(payload, secret, timestamp));
    },
  });
  await startWorker();
  return stack;
}
