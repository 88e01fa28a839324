import { Client, Connection, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import {
  FULFILLMENT_TASK_QUEUE,
  fulfillmentWorkflowId,
  searchAttributes,
  type FulfillmentInput,
} from '../workflows/contracts.ts';
import type { fulfillmentWorkflow } from '../workflows/fulfillment.ts';

export interface TemporalTarget {
  address: string;
  namespace: string;
}

/** A client on its own connection; close it with `client.connection.close()`. */
export async function connectTemporalClient(target: TemporalTarget): Promise<Client> {
  const connection = await Connection.connect({ address: target.address });
  return new Client({ connection, namespace: target.namespace });
}

/**
 * Starts `fulfillment-<payment_intent_id>`, or finds it already running: both are success, so
 * every duplicate delivery of a webhook can call this. A run that completed is not repeated
 * (`ALLOW_DUPLICATE_FAILED_ONLY`); one that failed or was terminated may be started again.
 */
export async function startFulfillment(client: Client, input: FulfillmentInput): Promise<string> {
  const workflowId = fulfillmentWorkflowId(input.paymentIntentId);
  try {
    await client.workflow.start<typeof fulfillmentWorkflow>('fulfillmentWorkflow', {
      taskQueue: FULFILLMENT_TASK_QUEUE,
      workflowId,
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
      typedSearchAttributes: [
        { key: searchAttributes.fulfillmentStatus, value: 'pending_entitlement' },
        { key: searchAttributes.paymentIntentId, value: input.paymentIntentId },
        { key: searchAttributes.orderSource, value: input.source },
      ],
    });
  } catch (error) {
    // A closed run that may not be repeated (it completed): the fulfillment already happened.
    if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
  }
  return workflowId;
}
