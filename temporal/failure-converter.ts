import { DefaultFailureConverter } from '@temporalio/common';

/**
 * Loaded by path (`DataConverter.failureConverterPath`) in clients, workers and the workflow
 * bundle: failure messages and stack traces move into an encoded payload, which the payload
 * codec then encrypts — an error that names a buyer is as unreadable in history as the inputs.
 */
export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
