import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { PERMANENT_FAILURE_TYPES } from './contracts.ts';

/*
 * Every step runs in two phases: a few quick attempts, then — once the job shows
 * `pending_retry` — patient attempts with a longer backoff. Permanent failures are
 * non-retryable by type in both.
 *
 * The quick attempts of the steps before the receipt run as local activities: in the worker,
 * inside the workflow task, so they cost no round trip through the Temporal server and the
 * markers of one workflow task are billed as one action. They are kept short (a workflow task
 * that runs longer than ~8 s is heartbeated, an action each time); the patient phase is a
 * regular activity, visible as a pending activity with its attempts and last failure.
 */

const nonRetryableErrorTypes = [...PERMANENT_FAILURE_TYPES];

/** Steps that read and write a few Postgres rows in one transaction. */
export const databaseStep: ActivityOptions = {
  // A transaction over a handful of rows takes milliseconds; 30 s still covers a lock wait or
  // a database failover without leaving a hung connection unnoticed for long.
  startToCloseTimeout: '30 seconds',
  retry: {
    // Start fast: most database errors are a dropped connection that the next try survives.
    initialInterval: '1 second',
    backoffCoefficient: 2,
    // Three tries (about 3 s) before the job shows pending_retry.
    maximumAttempts: 3,
    nonRetryableErrorTypes,
  },
};

/** The same steps once they have failed three times: retry until the database is back. */
export const databaseStepPatient: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    // Capped at a minute so a recovered database is used within a minute of coming back.
    maximumInterval: '1 minute',
    nonRetryableErrorTypes,
  },
};

/** An email through the provider: a call that may be slow, rate-limited or down for a while. */
export const emailStep: ActivityOptions = {
  // Providers answer in well under a second; a minute allows for slow TLS and a retry inside
  // the driver while still failing a hung request quickly.
  startToCloseTimeout: '1 minute',
  retry: {
    // 5 s leaves room for a 429's Retry-After before the next attempt.
    initialInterval: '5 seconds',
    // Two failures raise the email alert (DESIGN.md: "an email that failed twice alerts").
    maximumAttempts: 2,
    nonRetryableErrorTypes,
  },
};

/** The email step after it failed twice: keep trying through a provider outage. */
export const emailStepPatient: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    // Never wait more than 5 minutes between attempts during a provider outage.
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes,
  },
};

/** The storage check: a file may still be uploading when the payment lands. */
export const storageStep: ActivityOptions = {
  // An existence check is one metadata request.
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumAttempts: 3,
    nonRetryableErrorTypes,
  },
};

/** The storage check after three misses: keep looking for the asset's retry window. */
export const storageStepPatient: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  // The asset retry window: an upload still missing after 30 minutes is not coming by
  // itself, so the job needs attention (a missing or misnamed file in the catalog).
  scheduleToCloseTimeout: '30 minutes',
  retry: {
    initialInterval: '10 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    nonRetryableErrorTypes,
  },
};

/** The quick attempts of a database step, as a local activity (the purchase is recorded). */
export const databaseStepLocal: LocalActivityOptions = {
  // A transaction over a handful of rows takes milliseconds; 10 s covers a lock wait behind a
  // refund of the same purchase, and keeps a hung connection from holding the workflow task.
  startToCloseTimeout: '10 seconds',
  retry: {
    // The same three tries in about 3 s as `databaseStep`, retried in the worker.
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumAttempts: 3,
    nonRetryableErrorTypes,
  },
};

/** The quick attempts of the storage check and activation, as a local activity. */
export const storageStepLocal: LocalActivityOptions = {
  // An existence check per file (in parallel) and one transaction: well under a second; 10 s
  // fails a hung storage request fast enough to leave it to the patient phase.
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '2 seconds',
    backoffCoefficient: 2,
    maximumAttempts: 3,
    nonRetryableErrorTypes,
  },
};
