import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import * as prettier from 'prettier';
import { buildApp } from '../api/app.ts';
import { loadConfig, type Config } from '../config/env.ts';
import { connectDatabase } from '../db/connect.ts';
import type { Db } from '../db/database.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { generatePayloadKeyEntry } from '../security/payload-codec.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { installTemporalRuntime } from '../worker/runtime.ts';
import { createFulfillmentWorker } from '../worker/worker.ts';
import { appDepsFromConfig } from '../scripts/lib/app-options.ts';
import { getFreePort } from '../stack/processes.ts';
import { createActivityDeps } from '../scripts/lib/worker-deps.ts';
import { seedDemoAssets } from '../stack/demo-data.ts';
import { createThrowawayDatabase } from '../stack/throwaway-database.ts';
import { createLocalStorage } from '../drivers/storage/driver.ts';
import { startTemporalDevServer } from '../stack/temporal-dev-server.ts';

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

/** Teardown steps run newest first, each one even when an earlier one failed. */
export interface Cleanups {
  add(name: string, step: () => Promise<void>): void;
  runAll(): Promise<void>;
}

export function createCleanups(): Cleanups {
  const steps: { name: string; step: () => Promise<void> }[] = [];
  return {
    add: (name, step) => void steps.push({ name, step }),
    async runAll() {
      for (const { name, step } of steps.reverse()) {
        try {
          await step();
        } catch (error) {
          console.error(`[bench] cleanup "${name}" failed:`, error);
        }
      }
      steps.length = 0;
    },
  };
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

/** The machine's PostgreSQL admin database, as the test setup finds it. */
export interface BenchStack {
  config: Config;
  temporal: Client;
  /** Base URL of the api (`buildApp`, as `npm run api` wires it) on 127.0.0.1. */
  apiUrl: string;
  webhookSecret: string;
  /** A pool of its own on the benchmark's database, closed with the stack. */
  openDatabase(name: string): Promise<Db>;
}

/** The configuration every benchmark runs with: production mode, encrypted payloads. */
export function benchConfig(
  databaseUrl: string,
  temporalAddress: string,
  storageDir: string,
): Config {
  return loadConfig({
    STORAGE_LOCAL_DIR: storageDir,
    // Production mode refuses the local storage, outbox email and localhost URLs a benchmark
    // on this machine uses; the payload codec below is on as in production.
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: temporalAddress,
    // Never called: every benchmark event names its SKUs and buyer email in the payload.
    STRIPE_SECRET_KEY: 'sk_test_bench',
    STRIPE_WEBHOOK_SECRETS: `whsec_${randomBytes(24).toString('hex')}`,
    STRIPE_GAP_CHECK_INTERVAL_MINUTES: '0',
    // Measured as production runs: every payload encrypted.
    PAYLOAD_ENCRYPTION_KEYS: generatePayloadKeyEntry('bench'),
    SEARCH_ATTRIBUTE_HASH_KEY: randomBytes(32).toString('hex'),
  });
}

async function startWorker(cleanups: Cleanups, config: Config, db: Db): Promise<void> {
  installTemporalRuntime();
  const { worker, connection } = await createFulfillmentWorker({
    ...temporalTargetFromConfig(config),
    deps: createActivityDeps(config, db),
  });
  let failure: unknown = null;
  const running = worker.run().catch((error: unknown) => {
    failure = error;
    console.error('[bench] the worker stopped:', error);
  });
  cleanups.add('worker', async () => {
    if (failure === null) worker.shutdown();
    await running;
    await connection.close();
  });
}

/**
 * Boots the service on real components: a throwaway PostgreSQL database (migrated, demo
 * catalog seeded), a headless Temporal dev server, one fulfillment worker and the api
 * listening on 127.0.0.1. Everything started is registered in `cleanups`.
 */
export async function bootBenchStack(cleanups: Cleanups, signal: AbortSignal): Promise<BenchStack> {
  progress('creating a throwaway database');
  const database = await createThrowawayDatabase('fulfillment_bench');
  cleanups.add('throwaway database', () => database.drop());
  const databaseUrl = database.url;
  const openDatabase = async (name: string): Promise<Db> => {
    const db = await connectDatabase({ kind: 'postgres', url: databaseUrl });
    cleanups.add(`${name} database pool`, () => db.destroy());
    return db;
  };
  signal.throwIfAborted();

  progress('starting a Temporal dev server');
  const devServer = await startTemporalDevServer({ port: await getFreePort(), uiPort: null });
  cleanups.add('temporal dev server', () => devServer.stop());
  progress(`Temporal dev server on ${devServer.address}`);
  const storageDir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-bench-storage-'));
  cleanups.add('storage folder', () => rm(storageDir, { recursive: true, force: true }));
  await seedDemoAssets(createLocalStorage(storageDir));
  const config = benchConfig(databaseUrl, devServer.address, storageDir);
  const temporal = await connectTemporalClient(temporalTargetFromConfig(config));
  cleanups.add('temporal client', () => temporal.connection.close());
  signal.throwIfAborted();

  progress('bundling workflows and starting the worker');
  await startWorker(cleanups, config, await openDatabase('worker'));
  signal.throwIfAborted();

  const app = await buildApp({
    ...appDepsFromConfig(config, await openDatabase('api'), temporal),
    relay: undefined,
    logger: false,
    // The limiter would answer 429 long before the benchmark's rate is reached.
    webhook: { bodyLimitBytes: config.WEBHOOK_BODY_LIMIT_BYTES, rateLimitPerMinute: 1_000_000 },
  });
  cleanups.add('api', () => app.close());
  const apiUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  progress(`api listening on ${apiUrl}`);
  return {
    config,
    temporal,
    apiUrl,
    webhookSecret: config.STRIPE_WEBHOOK_SECRETS[0]!,
    openDatabase,
  };
}

export interface LoadRequest {
  body: string;
  headers: Record<string, string>;
}

export interface LoadSample {
  index: number;
  /** HTTP status, or null when the request failed without a response. */
  status: number | null;
  error: string | null;
  /** From the moment the request was written to the end of the response body. */
  latencyMs: number;
  /** Wall-clock time (epoch ms) the response body ended, comparable with database timestamps. */
  answeredAt: number;
  /** How late the request left compared with its place on the schedule. */
  sendLagMs: number;
  body: string;
}

export interface OpenLoadOptions {
  label: string;
  url: string;
  ratePerSecond: number;
  durationSeconds: number;
  buildRequest(index: number): LoadRequest;
  signal: AbortSignal;
  /** Print a progress line this often; off when omitted. */
  reportEverySeconds?: number;
}

// A response slower than this is a failure, not a latency: it would otherwise hold the run open.
const REQUEST_TIMEOUT_MS = 30_000;

function postOnce(
  agent: http.Agent,
  url: URL,
  request: LoadRequest,
): Promise<Omit<LoadSample, 'index' | 'sendLagMs'>> {
  return new Promise((resolve) => {
    const sentAt = performance.now();
    const finish = (status: number | null, error: string | null, body: string): void =>
      resolve({
        status,
        error,
        body,
        latencyMs: performance.now() - sentAt,
        answeredAt: Date.now(),
      });
    const outgoing = http.request(
      url,
      {
        agent,
        method: 'POST',
        headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          finish(response.statusCode ?? null, null, Buffer.concat(chunks).toString('utf8')),
        );
        response.on('error', (error) => finish(null, error.message, ''));
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', (error) => finish(null, error.message, ''));
    outgoing.end(request.body);
  });
}

/**
 * Open-loop load: request `i` leaves at `start + i / rate` whether or not earlier ones have
 * been answered, so a slow server meets the same arrival rate instead of slowing the client
 * down (which would hide its latency). Stops scheduling when `signal` aborts.
 */
export async function runOpenLoad(options: OpenLoadOptions): Promise<LoadSample[]> {
  const url = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true });
  const total = Math.round(options.ratePerSecond * options.durationSeconds);
  const intervalMs = 1000 / options.ratePerSecond;
  const samples: LoadSample[] = [];
  const pending: Promise<void>[] = [];
  const startedAt = performance.now();
  const reporter =
    options.reportEverySeconds === undefined
      ? null
      : setInterval(
          () => progress(describeLoadProgress(options, samples, pending.length, startedAt)),
          options.reportEverySeconds * 1000,
        );
  try {
    for (let index = 0; index < total && !options.signal.aborted; index += 1) {
      const dueAt = startedAt + index * intervalMs;
      const waitMs = dueAt - performance.now();
      if (waitMs > 0) await sleep(waitMs);
      const request = options.buildRequest(index);
      const sendLagMs = Math.max(0, performance.now() - dueAt);
      pending.push(
        postOnce(agent, url, request).then((sample) => {
          samples.push({ ...sample, index, sendLagMs });
        }),
      );
    }
    await Promise.all(pending);
  } finally {
    if (reporter) clearInterval(reporter);
    agent.destroy();
  }
  return samples.sort((a, b) => a.index - b.index);
}

function describeLoadProgress(
  options: OpenLoadOptions,
  samples: readonly LoadSample[],
  sent: number,
  startedAt: number,
): string {
  const elapsed = (performance.now() - startedAt) / 1000;
  const failed = samples.filter((sample) => !isSuccess(sample)).length;
  return (
    `${options.label}: ${elapsed.toFixed(0)} s of ${options.durationSeconds} s, ${sent} sent, ` +
    `${samples.length} answered, ${failed} non-2xx or failed`
  );
}

export const isSuccess = (sample: LoadSample): boolean =>
  sample.status !== null && sample.status >= 200 && sample.status < 300;

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

export function formatMarkdownTable(header: readonly string[], rows: readonly string[][]): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  const rule = header.map((_, column) => (column === 0 ? '---' : '---:'));
  return [line(header), line(rule), ...rows.map(line)].join('\n');
}

/** The machine a figure was measured on, in one line. */
export function describeMachine(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  const memoryGiB = os.totalmem() / 1024 ** 3;
  return (
    `${model} × ${cpus.length}, ${memoryGiB.toFixed(1)} GiB RAM, ` +
    `${os.type()} ${os.release()} (${os.arch()}), Node ${process.version}`
  );
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

/**
 * Replaces the `## <name>` section of a markdown file (up to the next `## ` heading), or
 * appends it; creates the file with `intro` when it does not exist. Other sections are kept.
 */
export async function writeMarkdownSection(
  file: string,
  name: string,
  section: string,
  intro: string,
): Promise<void> {
  const current = existsSync(file) ? await readFile(file, 'utf8') : `${intro.trim()}\n`;
  const lines = current.split('\n');
  const heading = `## ${name}`;
  const start = lines.findIndex((line) => line.trim() === heading);
  const replacement = [heading, '', section.trim(), ''];
  if (start === -1) {
    await writeFormatted(file, [...current.trimEnd().split('\n'), '', ...replacement]);
    return;
  }
  const next = lines.findIndex((line, index) => index > start && line.startsWith('## '));
  const end = next === -1 ? lines.length : next;
  await writeFormatted(file, [...lines.slice(0, start), ...replacement, ...lines.slice(end)]);
}

/** Written as `npm run format` would write it, so the check gate stays green after a run. */
async function writeFormatted(file: string, lines: readonly string[]): Promise<void> {
  const config = await prettier.resolveConfig(file);
  await writeFile(file, await prettier.format(lines.join('\n'), { ...config, filepath: file }));
}
