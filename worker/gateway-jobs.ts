import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import { pruneRateLimitCounters } from '../db/queries/rate-limits.ts';
import { createStripeClient } from '../drivers/stripe.ts';
import { checkStripeEventGaps } from '../gateway/gap-check.ts';
import { pruneInbox } from '../gateway/retention.ts';
import type { PeriodicJobDefinition } from './periodic.ts';

export type GatewayJobsConfig = Pick<
  Config,
  | 'STRIPE_SECRET_KEY'
  | 'STRIPE_API_URL'
  | 'STRIPE_GAP_CHECK_INTERVAL_MINUTES'
  | 'STRIPE_GAP_CHECK_WINDOW_HOURS'
  | 'WEBHOOK_RETENTION_MONTHS'
  | 'WEBHOOK_RETENTION_PRUNE_INTERVAL_HOURS'
>;

/** Rate-limit windows are at most an hour; a day-old counter can only be garbage. */
const RATE_LIMIT_COUNTER_MAX_AGE_SECONDS = 24 * 3600;

/**
 * The webhook gateway's fleet-wide periodic jobs, each run once per interval across every
 * worker (`worker/periodic.ts`): the Stripe gap check (events it re-drives are recorded due
 * at once, and the relay in every api dispatches them), the inbox's retention prune, and the
 * clean-up of old rate-limit counters. An interval of 0 turns a job off.
 */
export function gatewayPeriodicJobs(config: GatewayJobsConfig, db: Db): PeriodicJobDefinition[] {
  const jobs: PeriodicJobDefinition[] = [
    {
      name: 'rate-limit-counters-prune',
      everySeconds: 3600,
      run: () => pruneRateLimitCounters(db, RATE_LIMIT_COUNTER_MAX_AGE_SECONDS),
    },
  ];
  if (config.STRIPE_GAP_CHECK_INTERVAL_MINUTES > 0) {
    const stripe = createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL);
    const windowMs = config.STRIPE_GAP_CHECK_WINDOW_HOURS * 3_600_000;
    jobs.push({
      name: 'stripe-gap-check',
      everySeconds: config.STRIPE_GAP_CHECK_INTERVAL_MINUTES * 60,
      run: () => checkStripeEventGaps({ db, stripe }, { since: new Date(Date.now() - windowMs) }),
    });
  }
  if (config.WEBHOOK_RETENTION_PRUNE_INTERVAL_HOURS > 0) {
    jobs.push({
      name: 'webhook-retention-prune',
      everySeconds: config.WEBHOOK_RETENTION_PRUNE_INTERVAL_HOURS * 3600,
      run: () =>
        pruneInbox(db, config.WEBHOOK_RETENTION_MONTHS, { actor: 'retention', dryRun: false }),
    });
  }
  return jobs;
}
