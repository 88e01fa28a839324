// The workflowsPath entry: every workflow the worker registers.
export { fulfillmentWorkflow } from './fulfillment.ts';
