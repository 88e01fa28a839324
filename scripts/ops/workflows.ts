import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Config } from '../../config/env.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { replayOpenWorkflows } from '../../worker/replay-check.ts';
import { installTemporalRuntime } from '../../worker/runtime.ts';
import { parseCount } from './common.ts';
import { UsageError } from './events.ts';

export const WORKFLOWS_USAGE = `workflows replay-check [--bundle FILE] [--query Q] [--limit N]
                                    the deploy gate: replays open workflows' histories (default: every
                                    running one, newest 200) against the code about to ship
                                    (--bundle or WORKFLOW_BUNDLE_PATH, else workflows/); exits 1 when one breaks`;

/** `npm run ops -- workflows replay-check`: would the new workflow code replay what is running? */
export async function runWorkflowsCommand(
  argv: string[],
  { temporal, config, json }: { temporal: Client; config: Config; json: boolean },
): Promise<void> {
  if (argv[0] !== 'replay-check')
    throw new UsageError(`workflows: replay-check\n${WORKFLOWS_USAGE}`);
  const { values } = parseArgs({
    args: argv.slice(1),
    options: {
      bundle: { type: 'string' },
      query: { type: 'string' },
      limit: { type: 'string' },
    },
  });
  installTemporalRuntime('WARN');
  const bundlePath = values.bundle ?? config.WORKFLOW_BUNDLE_PATH;
  const { dataConverter } = temporalTargetFromConfig(config);
  const result = await replayOpenWorkflows(temporal, {
    ...(bundlePath ? { bundlePath } : {}),
    ...(dataConverter ? { dataConverter } : {}),
    ...(values.query ? { query: values.query } : {}),
    limit: parseCount('limit', values.limit, 200),
  });
  if (json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(
      `replayed ${result.replayed} open workflow(s): ${result.failures.length} would break`,
    );
    for (const failure of result.failures) console.log(`  ${failure}`);
  }
  if (result.failures.length > 0) process.exitCode = 1;
}
