import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { ASSET_MISSING } from './contracts.ts';

export interface PermanentCause {
  type: string;
  message: string;
}

/**
 * A step's failure that retrying cannot fix, or null when the step should keep retrying:
 * a non-retryable type (unknown SKU, an address the provider refuses), or the patient storage
 * step's schedule-to-close window running out (the asset never arrived) — only that step has
 * such a window. An attempt's start-to-close timeout (a provider that hung) is retryable;
 * `attemptTimeoutsAreRetryable` is false only when replaying runs from before that rule.
 */
export function classifyPermanentFailure(
  error: unknown,
  attemptTimeoutsAreRetryable: () => boolean,
): PermanentCause | null {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  const nonRetryable =
    (cause instanceof ApplicationFailure && cause.nonRetryable) ||
    (error instanceof ActivityFailure && error.retryState === 'NON_RETRYABLE_FAILURE');
  if (nonRetryable) {
    const type =
      cause instanceof ApplicationFailure && cause.type ? cause.type : 'ApplicationFailure';
    return { type, message: failureMessage(error) };
  }
  if (
    error instanceof ActivityFailure &&
    (error.retryState === 'TIMEOUT' ||
      (cause instanceof TimeoutFailure && !attemptTimeoutsAreRetryable()))
  ) {
    return {
      type: ASSET_MISSING,
      message: `asset still missing after its retry window: ${failureMessage(error)}`,
    };
  }
  return null;
}

/** The message worth showing: the activity's own error rather than Temporal's wrapper. */
export const failureMessage = (error: unknown): string =>
  error instanceof ActivityFailure && error.cause ? error.cause.message : String(error);
