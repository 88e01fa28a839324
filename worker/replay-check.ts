import type { Client } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { tracingWorkerOptions, workflowInterceptorModules } from './tracing.ts';
import { workflowsPath } from './worker.ts';

export interface ReplayCheckResult {
  replayed: number;
  /** `<workflow id>: <why it does not replay>` for each run the new code would break. */
  failures: string[];
}

/**
 * The deploy gate of the patching discipline (docs/DEPLOY.md): replays the histories of
 * workflows that are open now (`query`, default every running one, the newest `limit`) against
 * the workflow code about to be deployed — a prebuilt bundle, or workflows/ bundled here — with
 * the production data converter, so encrypted histories decode. A change that is not guarded by
 * `patched()` shows up as a run that fails to replay, before any worker runs it.
 */
export async function replayOpenWorkflows(
  client: Client,
  {
    bundlePath,
    dataConverter,
    query = 'ExecutionStatus = "Running"',
    limit = 200,
  }: { bundlePath?: string; dataConverter?: DataConverter; query?: string; limit?: number },
): Promise<ReplayCheckResult> {
  const workflowBundle = bundlePath
    ? { codePath: bundlePath }
    : // As `npm run build:workflows` bundles it: with the tracing interceptors.
      await bundleWorkflowCode({
        workflowsPath,
        workflowInterceptorModules,
        logger: quietBundlerLogger,
      });
  async function* newest() {
    let count = 0;
    for await (const history of client.workflow.list({ query }).intoHistories()) {
      if (count === limit) return;
      count += 1;
      yield history;
    }
  }
  const result: ReplayCheckResult = { replayed: 0, failures: [] };
  for await (const replay of Worker.runReplayHistories(
    {
      workflowBundle,
      replayName: 'deploy-replay-check',
      // The bundle's tracing interceptors call their sink (dropped while replaying).
      sinks: tracingWorkerOptions().sinks,
      ...(dataConverter ? { dataConverter } : {}),
    },
    newest(),
  )) {
    result.replayed += 1;
    if (replay.error) result.failures.push(`${replay.workflowId}: ${replay.error.message}`);
  }
  return result;
}

const quietBundlerLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
