// The chaos scenarios at their short scale (small counts, outages of a few seconds), through
// the same functions as `npm run chaos -- --scale short`. Each scenario starts its own Temporal
// dev server, database, api and worker processes, so they run side by side; the suite asserts
// outcomes (PASS and no violated expectation), never timings.
import { beforeAll, describe, expect, it } from 'vitest';
import { mapLimit } from '../../stack/load.ts';
import { runScenario, SCENARIOS, type NamedResult } from '../../chaos/run.ts';

// Longest first: the worker kill and the Temporal outage mostly wait on a 1-minute timeout and
// timer, so three at a time keep the file near two minutes without crowding two cores.
const LONGEST_FIRST = [
  'temporal-outage',
  'worker-kill',
  'email-provider',
  'postgres-outage',
  'out-of-order',
  'duplicates',
  'replay',
  'signatures',
];
const AT_ONCE = 3;

const results = new Map<string, NamedResult>();

beforeAll(async () => {
  const ordered = [...SCENARIOS].sort(
    (a, b) => LONGEST_FIRST.indexOf(a.name) - LONGEST_FIRST.indexOf(b.name),
  );
  await mapLimit(ordered, AT_ONCE, async (scenario) => {
    results.set(scenario.name, await runScenario(scenario, 'short'));
  });
  // Generous: a loaded machine stretches every scenario; a hang still ends here.
}, 10 * 60_000);

describe('chaos scenarios (short scale)', () => {
  it.each(SCENARIOS.map((scenario) => [scenario.name, scenario.title]))('%s: %s', (name) => {
    const result = results.get(name);
    expect(result, `${name} did not run`).toBeDefined();
    expect(result!.failures).toEqual([]);
    expect(result!.passed).toBe(true);
  });
});
