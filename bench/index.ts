// `npm run bench -- <benchmark> [options]`: runs one benchmark on the local stack and records
// its figures in docs/BENCHMARKS.md.
import { abortOnInterrupt, UsageError } from './lib.ts';

interface Benchmark {
  summary: string;
  options: string;
  load(): Promise<(args: string[], signal: AbortSignal) => Promise<void>>;
}

const BENCHMARKS: Record<string, Benchmark> = {
  webhooks: {
    summary:
      'POST /webhooks/stripe ack latency vs a bare verify+insert route (interleaved, worker saturated), duplicates, dispatch lag',
    options: '[--rate 100] [--duration 60] [--slice 5] [--saturate 15] [--dup-duration 20]',
    load: async () => (await import('./webhooks.ts')).runWebhookBenchmark,
  },
  fulfillment: {
    summary: 'webhook → delivery email latency, fulfillments/s vs a bare workflow, actions/run',
    options: '[--rate 10] [--duration 60] [--sustain-duration 120] [--concurrency 50]',
    load: async () => (await import('./fulfillment.ts')).runFulfillmentBenchmark,
  },
  actions: {
    summary: 'billable Temporal actions per purchase (known account, guest) vs a bare workflow',
    options: '',
    load: async () => (await import('./actions.ts')).runActionsBenchmark,
  },
  memory: {
    summary: 'worker RSS with --count open fulfillments on their reminder timer vs bare timers',
    options: '[--count 10000] [--concurrency 50]',
    load: async () => (await import('./memory.ts')).runMemoryBenchmark,
  },
  startup: {
    summary: 'worker start to first poll: prebuilt bundle vs bundling from source',
    options: '[--runs 5]',
    load: async () => (await import('./startup.ts')).runStartupBenchmark,
  },
};

function usage(): string {
  const names = Object.keys(BENCHMARKS);
  const width = Math.max(...names.map((name) => name.length));
  const lines = Object.entries(BENCHMARKS).flatMap(([name, benchmark]) => [
    `  ${name.padEnd(width)}  ${benchmark.summary}`,
    `  ${' '.repeat(width)}  ${benchmark.options}`,
  ]);
  return ['usage: npm run bench -- <benchmark> [options]', '', 'benchmarks:', ...lines].join('\n');
}

const [name, ...args] = process.argv.slice(2);
const benchmark = name !== undefined && Object.hasOwn(BENCHMARKS, name) ? BENCHMARKS[name] : null;
if (!benchmark) {
  if (name !== undefined) console.error(`unknown benchmark "${name}"\n`);
  console.error(usage());
  process.exit(2);
}

const signal = abortOnInterrupt();
try {
  const run = await benchmark.load();
  await run(args, signal);
} catch (error) {
  if (error instanceof UsageError) {
    console.error(`${error.message}\n\n${usage()}`);
    process.exit(2);
  }
  if (signal.aborted) {
    console.error('[bench] interrupted; everything it started is stopped and removed');
    process.exit(130);
  }
  console.error('[bench] failed:', error);
  process.exit(1);
}
// The Temporal runtime's native threads can outlive the last connection; the run is over.
process.exit(0);
