import { createAdjustmentActivities } from './adjustments.ts';
import { createFulfillmentActivities, type FulfillmentDeps } from './fulfillment.ts';
import { withFulfillmentMetrics } from './latency-metric.ts';
import { createOperationsActivities } from './operations.ts';
import { createOrderEmailActivities } from './order-email.ts';

export type ActivityDeps = FulfillmentDeps;

/** Every activity the worker registers, built from its dependencies (tests pass their own). */
export function createActivities(deps: ActivityDeps) {
  // fulfillment_latency_seconds is observed when a receipt goes out (latency-metric.ts).
  return withFulfillmentMetrics(
    {
      ...createFulfillmentActivities(deps),
      ...createOrderEmailActivities(deps),
      ...createAdjustmentActivities(deps),
      ...createOperationsActivities(deps),
    },
    deps.db,
  );
}

export type Activities = ReturnType<typeof createActivities>;
