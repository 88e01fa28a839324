// The floor the fulfillment benchmark compares with: a workflow that runs as many activities
// as a fulfillment does before its reminder phase, each one a no-op. Bundled on its own
// (`bundleWorkflowCode`) for the benchmark's second worker, so like workflows/ it imports
// nothing but the workflow SDK.
import { proxyActivities, sleep } from '@temporalio/workflow';

/** What the bare worker registers. */
export interface BareActivities {
  noop(): Promise<void>;
}

const { noop } = proxyActivities<BareActivities>({
  // A no-op answers in microseconds; the timeout only bounds a task lost with its worker.
  startToCloseTimeout: '30 seconds',
});

/** Runs `activityCount` no-op activities one after another, as a fulfillment runs its steps. */
export async function bareWorkflow(activityCount: number): Promise<void> {
  for (let step = 0; step < activityCount; step += 1) await noop();
}

/**
 * The memory benchmark's floor: a workflow that does nothing but wait on one long timer, as a
 * fulfillment waits on its reminder timer.
 */
export async function bareTimerWorkflow(): Promise<void> {
  await sleep('24 hours');
}
