import type { ActivityOptions } from '@temporalio/workflow';
import { PERMANENT_FAILURE_TYPES } from './contracts.ts';

/** Steps that read and write a few Postgres rows in one transaction. */
export const databaseStep: ActivityOptions = {
  // A transaction over a handful of rows takes milliseconds; 30 s still covers a lock wait or
  // a database failover without leaving a hung connection unnoticed for long.
  startToCloseTimeout: '30 seconds',
  retry: {
    // Start fast: most database errors are a dropped connection that the next try survives.
    initialInterval: '1 second',
    backoffCoefficient: 2,
    // Capped at a minute so a recovered database is used within a minute of coming back.
    maximumInterval: '1 minute',
    nonRetryableErrorTypes: [...PERMANENT_FAILURE_TYPES],
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
    backoffCoefficient: 2,
    // Never wait more than 5 minutes between attempts during a provider outage.
    maximumInterval: '5 minutes',
  },
};
