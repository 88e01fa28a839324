import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import { buildApp } from '../api/app.ts';
import { loadConfig, type Config } from '../config/env.ts';
import { connectDatabase } from '../db/connect.ts';
import type { Db } from '../db/database.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { appDepsFromConfig } from '../scripts/lib/app-options.ts';
import { createActivityDeps } from '../scripts/lib/worker-deps.ts';
import type { Cleanups } from '../stack/cleanups.ts';
import { startLocalComponents } from '../stack/deployed-stack.ts';
import { startInProcessWorker } from '../stack/in-process-worker.ts';
import { isSuccess, type LoadSample } from '../stack/load.ts';
import { describeMachine, writeMarkdownSection } from '../stack/measurement-docs.ts';

/** Prints a progress line; benchmarks take minutes and should say what they are doing. */
export const progress = (message: string): void => console.log(`[bench] ${message}`);

/** Thrown for a malformed command line; the entry point prints usage and exits 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The value of a numeric flag; anything but a positive finite number is a usage error. */
export function positiveNumber(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0)
    throw new UsageError(`${flag} must be a positive number, not "${value}"`);
  return number;
}

/**
 * An AbortSignal that the first SIGINT/SIGTERM aborts, so the run stops its load and tears
 * the stack down; a second signal exits at once (child processes still die with us).
 */
export function abortOnInterrupt(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    progress(`${signal}: stopping and cleaning up (again to exit at once)`);
    controller.abort(new Error(`interrupted by ${signal}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}

export interface BenchStack {
  config: Config;
  temporal: Client;
  /** Base URL of the api (`buildApp`, as `npm run api` wires it) on 127.0.0.1. */
  apiUrl: string;
  webhookSecret: string;
  /** The benchmark's own pool on the database (the api and the worker have theirs). */
  db: Db;
}

/** The configuration every benchmark runs with: production mode, encrypted payloads. */
export function benchConfig(options: {
  databaseUrl: string;
  temporalAddress: string;
  storageDir: string;
  /** PAYLOAD_ENCRYPTION_KEYS, e.g. from `generatePayloadKeyEntry`. */
  payloadKeys: string;
}): Config {
  return loadConfig({
    STORAGE_LOCAL_DIR: options.storageDir,
    // Production mode refuses the local storage, outbox email and localhost URLs a benchmark
    // on this machine uses; the payload codec below is on as in production.
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: options.databaseUrl,
    TEMPORAL_ADDRESS: options.temporalAddress,
    // Never called: every benchmark event names its SKUs and buyer email in the payload.
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_WEBHOOK_SECRETS: `whsec_${randomBytes(24).toString('hex')}`,
    STRIPE_GAP_CHECK_INTERVAL_MINUTES: '0',
    // Measured as production runs: every payload encrypted.
    PAYLOAD_ENCRYPTION_KEYS: options.payloadKeys,
    SEARCH_ATTRIBUTE_HASH_KEY: randomBytes(32).toString('hex'),
  });
}

/**
 * Boots the service on real components (stack/deployed-stack.ts): a throwaway PostgreSQL
 * database (migrated, demo catalog seeded), a headless Temporal dev server, then in this
 * process one fulfillment worker and the api listening on 127.0.0.1. Everything started is
 * registered in `cleanups`.
 */
export async function bootBenchStack(cleanups: Cleanups, signal: AbortSignal): Promise<BenchStack> {
  progress('creating a throwaway database and starting a Temporal dev server');
  const components = await startLocalComponents(cleanups, { name: 'bench' });
  progress(`Temporal dev server on ${components.devServer.address}`);
  const config = benchConfig({
    databaseUrl: components.databaseUrl,
    temporalAddress: components.devServer.address,
    storageDir: components.storageDir,
    payloadKeys: components.payloadKeys,
  });
  const openDatabase = async (name: string): Promise<Db> => {
    const db = await connectDatabase({ kind: 'postgres', url: components.databaseUrl });
    cleanups.add(`${name} database pool`, () => db.destroy());
    return db;
  };
  signal.throwIfAborted();

  progress('bundling workflows and starting the worker');
  const worker = await startInProcessWorker({
    ...temporalTargetFromConfig(config),
    deps: createActivityDeps(config, await openDatabase('worker')),
  });
  cleanups.add('worker', () => worker.stop());
  signal.throwIfAborted();

  const app = await buildApp({
    ...appDepsFromConfig(config, await openDatabase('api'), components.temporal),
    relay: undefined,
    logger: false,
  });
  cleanups.add('api', () => app.close());
  const apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  progress(`api listening on ${apiUrl}`);
  return {
    config,
    temporal: components.temporal,
    apiUrl,
    webhookSecret: config.STRIPE_WEBHOOK_SECRETS[0]!,
    db: components.db,
  };
}

/** Nearest-rank percentile of ascending `sorted` values; NaN for no values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

export interface LatencySummary {
  requests: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Responses outside 2xx. */
  non2xx: number;
  /** Requests that got no response at all (connection error, timeout). */
  errors: number;
  sendLagP99Ms: number;
  sendLagMaxMs: number;
}

/** Latency over every answered request (any status); failures without a response are counted. */
export function summarizeSamples(samples: readonly LoadSample[]): LatencySummary {
  const answered = samples.filter((sample) => sample.status !== null);
  const latencies = answered.map((sample) => sample.latencyMs).sort((a, b) => a - b);
  const lags = samples.map((sample) => sample.sendLagMs).sort((a, b) => a - b);
  return {
    requests: samples.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? Number.NaN,
    non2xx: answered.filter((sample) => !isSuccess(sample)).length,
    errors: samples.length - answered.length,
    sendLagP99Ms: percentile(lags, 99),
    sendLagMaxMs: lags.at(-1) ?? Number.NaN,
  };
}

export const formatMs = (ms: number): string => (Number.isNaN(ms) ? '—' : ms.toFixed(1));

/** Columns padded to their widest cell; numbers are right-aligned. */
export function formatTextTable(header: readonly string[], rows: readonly string[][]): string {
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!),
      )
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A section's opening: when and where it was measured, how loaded, and how to repeat it. */
export function measurementPreamble(measuredAt: string, commandLine: string): string {
  const load = os
    .loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
  return `Measured ${measuredAt} on ${describeMachine()}; load average (1, 5, 15 min) at the end:
${load}.

\`\`\`sh
${commandLine}
\`\`\``;
}

const BENCHMARKS_DOC = fileURLToPath(new URL('../docs/BENCHMARKS.md', import.meta.url));

// Used only when docs/BENCHMARKS.md is missing; its sections are kept otherwise.
const BENCHMARKS_INTRO = `
# Benchmarks

Figures from \`npm run bench -- <benchmark>\`, measured on the local stack with real
components — PostgreSQL, a Temporal dev server, a fulfillment worker and the api over real
HTTP — never mocks. Each run rewrites its own section below and keeps the others.
Benchmarks print figures; they are not tests and never fail a build.

| benchmark     | what it measures                                                                                                                                                                   | reproduce                      |
| ------------- | ------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------------ | ------------------------------ |
| \`webhooks\`    | acknowledgement latency of \`POST /webhooks/stripe\` with api, worker, bare baseline and load generator as separate processes: ours interleaved with a bare verify-and-insert route against a saturated worker, redeliveries, and dispatch lag (inbox commit → workflow started) with relay pickups                                              | \`npm run bench -- webhooks\`    |
| \`fulfillment\` | as deployed (api and worker as separate processes): webhook \`received_at\` → receipt \`sent_at\` under open-loop load, sustained fulfillments/s against a bare workflow of the same shape (local and regular no-op activities), ablations that attribute the gap (bare + upserts, no-op steps, without the gateway), and Temporal Cloud actions per fulfillment | \`npm run bench -- fulfillment\` |
| \`actions\`     | billable Temporal Cloud actions per purchase (known account; guest with both reminders) from real histories, counted as Temporal bills them, against a bare workflow of the same shape; and the periodic work's actions per day                                                                                                                              | \`npm run bench -- actions\`     |
| \`memory\`      | worker peak RSS (VmHWM, the judged figure) and settled RSS while 10,000 fulfillments start and wait on their reminder timer, and the workflow cache size, against a bare worker holding as many sleeping workflows                                                                                                                                           | \`npm run bench -- memory\`      |
| \`startup\`     | \`scripts/worker.ts\` start to first poll with a prebuilt bundle, against bundling \`workflows/\` at start                                                                             | \`npm run bench -- startup\`     |

Requirements are those of \`npm test\`: PostgreSQL on \`127.0.0.1:5432\` with trust auth (or
\`DATABASE_URL\` pointing at an admin database) and the Temporal CLI (found or installed by
\`npm run tools\`). Each run creates \`fulfillment_bench_<random>\` and drops it at the end.
`;

/** Rewrites the `## <benchmark>` section of docs/BENCHMARKS.md and keeps the others. */
export async function writeBenchmarkSection(benchmark: string, section: string): Promise<void> {
  await writeMarkdownSection(BENCHMARKS_DOC, benchmark, section, BENCHMARKS_INTRO);
  progress(`wrote the ${benchmark} section of ${BENCHMARKS_DOC}`);
}
