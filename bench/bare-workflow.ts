// The floors the fulfillment benchmarks compare with: workflows shaped like a fulfillment —
// the same local activities, then the same regular activities, each a no-op — and one that
// only waits on a timer. Bundled on their own (`bundleWorkflowCode`) for the benchmarks' bare
// workers, so like workflows/ they import nothing but the Temporal SDK.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import {
  proxyActivities,
  proxyLocalActivities,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';

/** What the bare workers register. */
export interface BareActivities {
  noop(): Promise<void>;
}

const { noop } = proxyActivities<BareActivities>({
  // A no-op answers in microseconds; the timeout only bounds a task lost with its worker.
  startToCloseTimeout: '30 seconds',
});
const { noop: localNoop } = proxyLocalActivities<BareActivities>({
  startToCloseTimeout: '30 seconds',
});

/** How many of each a fulfillment runs before its reminder phase (counted from a history). */
export interface BareShape {
  /** Local activities, one after another, in the first workflow task. */
  localActivities: number;
  /** Regular activities, one after another, after the local ones. */
  activities: number;
  /**
   * Search-attribute upserts (the "bare + upserts" ablation): one after the local activities
   * and one after each regular activity, up to this many.
   */
  upserts: number;
}

// Registered on every Temporal server the benchmarks start (stack/temporal-dev-server.ts).
const benchStatus = defineSearchAttributeKey('FulfillmentStatus', SearchAttributeType.KEYWORD);

/** Runs `shape`'s no-op activities in the fulfillment's order, upserting where it would. */
export async function bareWorkflow(shape: BareShape | number): Promise<void> {
  // A bare count: the shape before local activities (histories recorded before the lean shape).
  const { localActivities, activities, upserts } =
    typeof shape === 'number' ? { localActivities: 0, activities: shape, upserts: 0 } : shape;
  let upserted = 0;
  const upsert = (): void => {
    if (upserted >= upserts) return;
    upserted += 1;
    upsertSearchAttributes([{ key: benchStatus, value: `bench-${upserted}` }]);
  };
  for (let step = 0; step < localActivities; step += 1) await localNoop();
  if (localActivities > 0) upsert();
  for (let step = 0; step < activities; step += 1) {
    await noop();
    upsert();
  }
}

/**
 * The memory benchmark's floor: a workflow that does nothing but wait on one long timer, as a
 * fulfillment waits on its reminder timer.
 */
export async function bareTimerWorkflow(): Promise<void> {
  await sleep('24 hours');
}
