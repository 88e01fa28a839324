// `npm run bench -- startup`: how long `npm run worker` takes from process start to its first
// poll, with a prebuilt workflow bundle (production) against bundling workflows/ at start.
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { createLocalStorage } from '../drivers/storage/driver.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { generatePayloadKeyEntry } from '../security/payload-codec.ts';
import { workflowsPath } from '../worker/worker.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { quietLogger, REPO_ROOT, serviceEnv, waitForPoller } from '../chaos/harness.ts';
import { getFreePort, spawnManaged } from '../stack/processes.ts';
import { seedDemoAssets } from '../stack/demo-data.ts';
import { startTemporalDevServer } from '../stack/temporal-dev-server.ts';
import { createThrowawayDatabase } from '../stack/throwaway-database.ts';
import {
  createCleanups,
  measurementPreamble,
  formatMarkdownTable,
  formatTextTable,
  percentile,
  positiveNumber,
  progress,
  UsageError,
  writeMarkdownSection,
} from './lib.ts';

const DOC_FILE = fileURLToPath(new URL('../docs/BENCHMARKS.md', import.meta.url));
const TARGET_SECONDS = 3;

interface Sample {
  prebuilt: boolean;
  seconds: number;
}

/** Starts `scripts/worker.ts`, times it to its first poll, stops it. */
async function timeWorkerStart(
  env: NodeJS.ProcessEnv,
  temporal: Awaited<ReturnType<typeof connectTemporalClient>>,
  cwd: string,
): Promise<number> {
  const startedAt = performance.now();
  const worker = spawnManaged(process.execPath, [path.join(REPO_ROOT, 'scripts', 'worker.ts')], {
    cwd,
    env: { ...env, TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await getFreePort()}` },
  });
  try {
    // 25 ms between looks: fine next to a start of seconds, and cheap for the server.
    await waitForPoller(temporal, FULFILLMENT_TASK_QUEUE, worker.child.pid!, {
      intervalMs: 25,
      timeoutMs: 120_000,
      abort: () =>
        worker.child.exitCode !== null
          ? `exited with code ${worker.child.exitCode}:\n${worker.recentOutput()}`
          : null,
    });
    return (performance.now() - startedAt) / 1000;
  } finally {
    await worker.stop();
  }
}

/**
 * Alternates worker starts with the prebuilt bundle and with bundling from source, `--runs`
 * of each; prints the table and rewrites the `## startup` section of docs/BENCHMARKS.md.
 */
export async function runStartupBenchmark(args: string[], signal: AbortSignal): Promise<void> {
  let runs: number;
  try {
    const { values } = parseArgs({ args, options: { runs: { type: 'string', default: '5' } } });
    runs = positiveNumber('--runs', values.runs);
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (!Number.isInteger(runs)) throw new UsageError(`--runs must be a whole number`);
  const measuredAt = new Date().toISOString();
  const cleanups = createCleanups();
  try {
    progress('creating a throwaway database and a Temporal dev server');
    const database = await createThrowawayDatabase('fulfillment_bench');
    cleanups.add('throwaway database', () => database.drop());
    const devServer = await startTemporalDevServer({ port: await getFreePort(), uiPort: null });
    cleanups.add('temporal dev server', () => devServer.stop());
    const temporal = await connectTemporalClient({
      address: devServer.address,
      namespace: 'default',
    });
    cleanups.add('temporal client', () => temporal.connection.close());
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-bench-startup-'));
    cleanups.add('scratch folder', () => rm(dir, { recursive: true, force: true }));
    const storageDir = path.join(dir, 'storage');
    await seedDemoAssets(createLocalStorage(storageDir));

    progress('building the workflow bundle once, as a deploy would');
    const bundleStartedAt = performance.now();
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: quietLogger });
    const bundleSeconds = (performance.now() - bundleStartedAt) / 1000;
    const bundlePath = path.join(dir, 'workflow-bundle.js');
    await writeFile(bundlePath, bundle.code);

    const base = {
      databaseUrl: database.url,
      temporalAddress: devServer.address,
      payloadKeys: generatePayloadKeyEntry('bench'),
      storageDir,
    };
    const prebuiltEnv = serviceEnv({ ...base, workflowBundlePath: bundlePath });
    const fromSourceEnv = serviceEnv(base);
    const samples: Sample[] = [];
    for (let run = 0; run < runs; run += 1) {
      for (const prebuilt of [true, false]) {
        signal.throwIfAborted();
        const seconds = await timeWorkerStart(
          prebuilt ? prebuiltEnv : fromSourceEnv,
          temporal,
          dir,
        );
        progress(`${prebuilt ? 'prebuilt bundle' : 'from source'}: ${seconds.toFixed(2)} s`);
        samples.push({ prebuilt, seconds });
      }
    }

    const summary = (prebuilt: boolean) => {
      const sorted = samples
        .filter((sample) => sample.prebuilt === prebuilt)
        .map((sample) => sample.seconds)
        .sort((a, b) => a - b);
      return {
        p50: percentile(sorted, 50),
        min: sorted[0] ?? Number.NaN,
        max: sorted.at(-1) ?? Number.NaN,
      };
    };
    const prebuilt = summary(true);
    const fromSource = summary(false);
    const header = ['worker start → first poll', 'runs', 'median s', 'min s', 'max s'];
    const rows = [
      ['prebuilt bundle (WORKFLOW_BUNDLE_PATH)', prebuilt],
      ['bundling workflows/ at start (baseline)', fromSource],
    ].map(([name, figures]) => {
      const { p50, min, max } = figures as typeof prebuilt;
      return [name as string, String(runs), p50.toFixed(2), min.toFixed(2), max.toFixed(2)];
    });
    const ratio = prebuilt.p50 / fromSource.p50;
    const targets = [
      [
        `median start with a prebuilt bundle ≤ ${TARGET_SECONDS} s`,
        `${prebuilt.p50.toFixed(2)} s`,
        prebuilt.p50 <= TARGET_SECONDS ? 'met' : 'missed',
      ],
      [
        `slowest start with a prebuilt bundle ≤ ${TARGET_SECONDS} s`,
        `${prebuilt.max.toFixed(2)} s`,
        prebuilt.max <= TARGET_SECONDS ? 'met' : 'missed',
      ],
    ];
    console.log(
      [
        '',
        formatTextTable(header, rows),
        `prebuilt ÷ from source (medians): ${ratio.toFixed(2)}`,
        `bundling workflows/ in this process took ${bundleSeconds.toFixed(2)} s`,
        '',
        formatTextTable(['target', 'measured', 'result'], targets),
      ].join('\n'),
    );
    const section = `
${measurementPreamble(measuredAt, ['npm run bench -- startup', ...args].join(' '))}

Each run spawns \`scripts/worker.ts\` (what \`npm run worker\` runs) as a new Node process
against a Temporal dev server and a throwaway database, and times it from the spawn to the
moment Temporal lists the process (identity \`<pid>@<host>\`) among the pollers of the
\`${FULFILLMENT_TASK_QUEUE}\` task queue (\`DescribeTaskQueue\`, looked up every 25 ms): Node start,
config, database pool, Temporal runtime and connection, worker creation, first poll. The
worker is then stopped and the next run starts; the two modes alternate ${runs} times each.
The baseline bundles \`workflows/\` with webpack inside the worker at start (no
\`WORKFLOW_BUNDLE_PATH\`); building the bundle once, as a deploy step, took
${bundleSeconds.toFixed(2)} s here.

${formatMarkdownTable(header, rows)}

prebuilt ÷ from source (medians): **${ratio.toFixed(2)}**

${formatMarkdownTable(['target', 'measured', 'result'], targets)}
`;
    await writeMarkdownSection(DOC_FILE, 'startup', section, '# Benchmarks');
    progress(`wrote the startup section of ${DOC_FILE}`);
  } finally {
    progress('stopping');
    await cleanups.runAll();
  }
}
