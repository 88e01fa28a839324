import { createAdjustmentActivities } from './adjustments.ts';
import { createFulfillmentActivities, type FulfillmentDeps } from './fulfillment.ts';
import { createOperationsActivities } from './operations.ts';
import { createOrderEmailActivities } from './order-email.ts';

export type ActivityDeps = FulfillmentDeps;

/** Every activity the worker registers, built from its dependencies (tests pass their own). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createFulfillmentActivities(deps),
    ...createOrderEmailActivities(deps),
    ...createAdjustmentActivities(deps),
    ...createOperationsActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
