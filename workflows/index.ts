// The workflowsPath entry: every workflow the worker registers.
export {
  disputeWorkflow,
  refundWorkflow,
  resendLinksWorkflow,
  rewardRevocationWorkflow,
} from './adjustments.ts';
export { fulfillmentWorkflow } from './fulfillment.ts';
