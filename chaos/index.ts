// `npm run chaos [-- <scenario> …] [--scale short|full]`: breaks things on purpose and checks
// the service's promises held. Each scenario prints `PASS|FAIL <name> — <figures>`; the run
// exits 1 when any failed; a run of every scenario rewrites docs/RELIABILITY.md's Results.
import { parseArgs } from 'node:util';
import { runChaos, SCENARIOS } from './run.ts';
import type { Scale } from './harness.ts';

function usage(): string {
  const width = Math.max(...SCENARIOS.map((scenario) => scenario.name.length));
  return [
    'usage: npm run chaos [-- <scenario> …] [--scale short|full]',
    '',
    'scenarios (all when none is named):',
    ...SCENARIOS.map(
      (scenario, index) => `  ${index + 1}. ${scenario.name.padEnd(width)}  ${scenario.title}`,
    ),
    '',
    '--scale full (default): the counts and outages of docs/RELIABILITY.md; short: the CI sizes',
    '--no-doc: print only, leave docs/RELIABILITY.md alone',
  ].join('\n');
}

let parsed;
try {
  parsed = parseArgs({
    args: process.argv.slice(2),
    allowPositionals: true,
    options: {
      scale: { type: 'string', default: 'full' },
      'no-doc': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
} catch (error) {
  console.error(`${error instanceof Error ? error.message : String(error)}\n\n${usage()}`);
  process.exit(2);
}
if (parsed.values.help) {
  console.log(usage());
  process.exit(0);
}
const scale = parsed.values.scale;
if (scale !== 'short' && scale !== 'full') {
  console.error(`--scale must be short or full, not "${scale}"\n\n${usage()}`);
  process.exit(2);
}
const byName = new Map(SCENARIOS.map((scenario) => [scenario.name, scenario] as const));
for (const [index, scenario] of SCENARIOS.entries()) byName.set(String(index + 1), scenario);
const unknown = parsed.positionals.filter((name) => !byName.has(name));
if (unknown.length > 0) {
  console.error(`unknown scenario ${unknown.map((name) => `"${name}"`).join(', ')}\n\n${usage()}`);
  process.exit(2);
}
const selected =
  parsed.positionals.length === 0
    ? SCENARIOS
    : SCENARIOS.filter((scenario) =>
        parsed.positionals.some((name) => byName.get(name) === scenario),
      );

// The processes a scenario started die with this one (their exit hooks); a scenario's
// throwaway database may be left behind (fulfillment_chaos_*).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`[chaos] ${signal}: stopping every process the run started`);
    process.exit(130);
  });
}

const results = await runChaos(selected, scale satisfies Scale, {
  commandLine: ['npm run chaos --', ...process.argv.slice(2)].join(' '),
  // The Results section holds one whole run: a run of some scenarios only prints.
  writeDoc: !parsed.values['no-doc'] && selected.length === SCENARIOS.length,
});
// The Temporal runtime's native threads can outlive the last connection; the run is over.
process.exit(results.every((result) => result.passed) ? 0 : 1);
