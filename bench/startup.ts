// `npm run bench -- startup`: how long `npm run worker` takes from process start to its first
// poll, with a prebuilt workflow bundle (production) against bundling workflows/ at start.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';
import { Cleanups } from '../stack/cleanups.ts';
import {
  deployedProcessEnv,
  spawnRepoScript,
  startLocalComponents,
  waitForPoller,
} from '../stack/deployed-stack.ts';
import { getFreePort } from '../stack/processes.ts';
import { formatMarkdownTable } from '../stack/measurement-docs.ts';
import { writeWorkflowBundle } from '../stack/workflow-bundle.ts';
import {
  measurementPreamble,
  formatTextTable,
  percentile,
  positiveNumber,
  progress,
  UsageError,
  writeBenchmarkSection,
} from './lib.ts';

const TARGET_SECONDS = 3;

interface Sample {
  prebuilt: boolean;
  seconds: number;
}

/** Starts `scripts/worker.ts`, times it to its first poll, stops it. */
async function timeWorkerStart(
  env: NodeJS.ProcessEnv,
  temporal: Client,
  cwd: string,
): Promise<number> {
  const startedAt = performance.now();
  const worker = spawnRepoScript('scripts/worker.ts', [], {
    cwd,
    env: { ...env, TEMPORAL_METRICS_ADDRESS: `127.0.0.1:${await getFreePort()}` },
  });
  try {
    // 25 ms between looks: fine next to a start of seconds, and cheap for the server.
    await waitForPoller(temporal, FULFILLMENT_TASK_QUEUE, worker.child.pid!, {
      intervalMs: 25,
      timeoutMs: 120_000,
      abort: () => worker.exitReason(),
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
  const cleanups = new Cleanups('bench');
  try {
    progress('creating a throwaway database and a Temporal dev server');
    const components = await startLocalComponents(cleanups, { name: 'bench' });

    progress('building the workflow bundle once, as a deploy would');
    const bundleStartedAt = performance.now();
    const bundlePath = await writeWorkflowBundle(path.join(components.dir, 'workflow-bundle.js'));
    const bundleSeconds = (performance.now() - bundleStartedAt) / 1000;

    const base = {
      databaseUrl: components.databaseUrl,
      temporalAddress: components.devServer.address,
      payloadKeys: components.payloadKeys,
      storageDir: components.storageDir,
    };
    const prebuiltEnv = deployedProcessEnv({ ...base, workflowBundlePath: bundlePath });
    const fromSourceEnv = deployedProcessEnv(base);
    const samples: Sample[] = [];
    for (let run = 0; run < runs; run += 1) {
      for (const prebuilt of [true, false]) {
        signal.throwIfAborted();
        const seconds = await timeWorkerStart(
          prebuilt ? prebuiltEnv : fromSourceEnv,
          components.temporal,
          components.dir,
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
    await writeBenchmarkSection('startup', section);
  } finally {
    progress('stopping');
    await cleanups.runAll();
  }
}
