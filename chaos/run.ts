import { fileURLToPath } from 'node:url';
import {
  describeMachine,
  formatMarkdownTable,
  writeMarkdownSection,
} from '../stack/measurement-docs.ts';
import { installTemporalRuntime } from '../worker/runtime.ts';
import type { Scale, Scenario, ScenarioResult } from './harness.ts';
import { duplicateDeliveries } from './scenarios/duplicates.ts';
import { emailProvider } from './scenarios/email-provider.ts';
import { outOfOrder } from './scenarios/out-of-order.ts';
import { postgresOutage } from './scenarios/postgres-outage.ts';
import { replayCheck } from './scenarios/replay.ts';
import { signatures } from './scenarios/signatures.ts';
import { temporalOutage } from './scenarios/temporal-outage.ts';
import { workerKill } from './scenarios/worker-kill.ts';

/** Scenarios 1–8 of issue #9, in its order. */
export const SCENARIOS: readonly Scenario[] = [
  duplicateDeliveries,
  outOfOrder,
  signatures,
  workerKill,
  temporalOutage,
  postgresOutage,
  emailProvider,
  replayCheck,
];

const DOC_FILE = fileURLToPath(new URL('../docs/RELIABILITY.md', import.meta.url));

export interface NamedResult extends ScenarioResult {
  name: string;
  title: string;
  seconds: number;
}

/** Runs one scenario; an exception is a FAIL with its message, never a crash of the run. */
export async function runScenario(scenario: Scenario, scale: Scale): Promise<NamedResult> {
  const log = (message: string): void => console.log(`[chaos ${scenario.name}] ${message}`);
  const startedAt = Date.now();
  let result: ScenarioResult;
  try {
    result = await scenario.run(scale, log);
  } catch (error) {
    result = {
      passed: false,
      figures: 'did not finish',
      failures: [error instanceof Error ? (error.stack ?? error.message) : String(error)],
    };
  }
  return {
    ...result,
    name: scenario.name,
    title: scenario.title,
    seconds: (Date.now() - startedAt) / 1000,
  };
}

/** `PASS|FAIL <name> — figures`, then each failure indented. */
export function verdictLine(result: NamedResult): string {
  return [
    `${result.passed ? 'PASS' : 'FAIL'} ${result.name} — ${result.figures} (${result.seconds.toFixed(0)} s)`,
    ...result.failures.map((failure) => `  ✗ ${failure}`),
  ].join('\n');
}

export async function runChaos(
  scenarios: readonly Scenario[],
  scale: Scale,
  options: { commandLine: string; writeDoc: boolean },
): Promise<NamedResult[]> {
  // The SDK's INFO lines (worker state changes of the replay) would bury the verdicts.
  installTemporalRuntime();
  const measuredAt = new Date().toISOString();
  const results: NamedResult[] = [];
  for (const scenario of scenarios) {
    console.log(`[chaos] ${scenario.name}: ${scenario.title} (${scale})`);
    const result = await runScenario(scenario, scale);
    console.log(verdictLine(result));
    results.push(result);
  }
  const passed = results.filter((result) => result.passed).length;
  console.log(`\n${passed} of ${results.length} scenarios passed`);
  if (options.writeDoc) {
    await writeMarkdownSection(
      DOC_FILE,
      'Results',
      resultsSection(results, scale, measuredAt, options.commandLine),
      DOC_INTRO,
    );
    console.log(`[chaos] wrote ${DOC_FILE}`);
  }
  return results;
}

function resultsSection(
  results: readonly NamedResult[],
  scale: Scale,
  measuredAt: string,
  commandLine: string,
): string {
  const index = (result: NamedResult): number =>
    SCENARIOS.findIndex((scenario) => scenario.name === result.name) + 1;
  return `
Run ${measuredAt} at scale **${scale}** on ${describeMachine()}.

\`\`\`sh
${commandLine}
\`\`\`

${formatMarkdownTable(
  ['#', 'scenario', 'result', 'seconds'],
  results.map((result) => [
    String(index(result)),
    `\`${result.name}\` — ${result.title}`,
    result.passed ? 'PASS' : 'FAIL',
    result.seconds.toFixed(0),
  ]),
)}

${results.map((result) => `- **${result.passed ? 'PASS' : 'FAIL'} ${result.name}** — ${result.figures}`).join('\n')}
${results
  .filter((result) => !result.passed)
  .map(
    (result) =>
      `\n**${result.name} failed:**\n\n${result.failures.map((failure) => `- ${failure.split('\n')[0]}`).join('\n')}\n`,
  )
  .join('')}`;
}

// Used only when docs/RELIABILITY.md is missing; the file's method sections are kept otherwise.
const DOC_INTRO = `
# Reliability

Results of \`npm run chaos\`, which breaks the service on purpose and checks its promises.
`;
