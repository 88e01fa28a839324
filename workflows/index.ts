// The workflowsPath entry: every workflow the worker registers.
export {
  claimLinkWorkflow,
  disputeWorkflow,
  operatorRevocationWorkflow,
  refundWorkflow,
  resendLinksWorkflow,
  rewardRevocationWorkflow,
} from './adjustments.ts';
export { fulfillmentWorkflow } from './fulfillment.ts';
export { opsStuckScanWorkflow, reconciliationWorkflow } from './operations.ts';
