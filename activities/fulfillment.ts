import { ApplicationFailure } from '@temporalio/common';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import {
  activateOrderEntitlements,
  listOrderProducts,
  transitionJobInTransaction,
  transitionJobWithError,
} from '../db/queries/fulfillment.ts';
import { productStoragePath } from '../db/queries/products.ts';
import { findPurchasedProducts, recordPurchaseRows } from '../db/queries/purchases.ts';
import { findWebhookEvent } from '../db/queries/webhook-events.ts';
import {
  ASSET_MISSING,
  type ActivatedEntitlements,
  type FulfillmentInput,
  type FulfillmentStatus,
  type JobStep,
  type NeedsAttention,
  type PermanentFailureType,
  type RecordedPurchase,
} from '../workflows/contracts.ts';
import { raiseAlert, type AlertSinks } from '../support/alerts.ts';
import type { EmailDriver } from '../drivers/email/driver.ts';
import type { DownloadLinkSigning } from './order-email.ts';
import {
  customerEmailSearchValue,
  DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
} from '../security/search-attribute-hash.ts';
import type { StorageDriver } from '../drivers/storage/driver.ts';
import { tableAnalyticsSink, type AnalyticsSink } from '../drivers/analytics/index.ts';
import { recordFulfillmentAnalytics } from './analytics.ts';
import {
  InvalidPurchaseError,
  readPurchase,
  readRewardPurchase,
  type Purchase,
} from './purchase.ts';

export interface FulfillmentDeps {
  db: Db;
  stripe: Stripe;
  storage: StorageDriver;
  email: EmailDriver;
  emailFrom: string;
  alerts: AlertSinks;
  links?: DownloadLinkSigning | undefined;
  /** Keys the `CustomerEmail` search attribute's hash (SEARCH_ATTRIBUTE_HASH_KEY). */
  searchAttributeHashKey?: string | undefined;
  /** Where analytics events go (ANALYTICS_SINK); the analytics_events table by default. */
  analytics?: AnalyticsSink | undefined;
}

export function permanentFailure(type: PermanentFailureType, message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, type);
}

/** The recorded payload of a Stripe event; a missing one is a permanent failure. */
export async function loadStripeEventObject(db: Db, stripeEventId: string): Promise<unknown> {
  const event = await findWebhookEvent(db, 'stripe', stripeEventId);
  if (!event)
    throw permanentFailure('InvalidPurchase', `webhook event ${stripeEventId} is not recorded`);
  return (event.payload as { data?: { object?: unknown } }).data?.object;
}

/** The side effects of a fulfillment; each is idempotent on its own key so retries are safe. */
export function createFulfillmentActivities({
  db,
  stripe,
  storage,
  alerts,
  searchAttributeHashKey = DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
  analytics = tableAnalyticsSink,
}: FulfillmentDeps) {
  return {
    /**
     * Records customer, order, entitlements (`processing`), the job and its first event in one
     * transaction. Running it again for the same purchase returns what is there. A refund or
     * dispute recorded before this success event applies at once.
     */
    async recordPurchase(input: FulfillmentInput): Promise<RecordedPurchase> {
      let purchase: Purchase;
      try {
        purchase =
          input.source === 'reward'
            ? await readRewardPurchase(db, input.rewardId)
            : await readPurchase(stripe, await loadStripeEventObject(db, input.stripeEventId));
      } catch (error) {
        if (error instanceof InvalidPurchaseError)
          throw permanentFailure('InvalidPurchase', error.message);
        throw error;
      }
      const origin =
        input.source === 'reward'
          ? { rewardId: input.rewardId }
          : { stripeEventId: input.stripeEventId };
      const { products, unknown } = await findPurchasedProducts(db, purchase.items);

      // Nothing is delivered while part of the purchase is unknown: support fixes the
      // catalog and replays the event, and this step then records every item.
      const deliverable = unknown.length === 0 ? products : [];
      const recorded = await recordPurchaseRows(db, {
        purchase,
        source: input.source,
        origin,
        products: deliverable,
      });
      return {
        jobId: recorded.jobId,
        orderId: recorded.orderId,
        customerEmailSearchValue: customerEmailSearchValue(purchase.email, searchAttributeHashKey),
        guest: recorded.guest,
        status: recorded.status,
        unknownItems: unknown,
      };
    },

    /**
     * Checks that every purchased file exists at its versioned path. A missing file is
     * retried (it may still be uploading); the workflow gives up after its retry window.
     */
    async verifyAssets({ jobId, orderId }: JobStep): Promise<FulfillmentStatus> {
      const items = await listOrderProducts(db, orderId);
      const keys = items.flatMap((item) =>
        item.formats.map((format) => productStoragePath(item, format)),
      );
      const missing: string[] = [];
      for (const key of keys) if (!(await storage.exists(key))) missing.push(key);
      if (missing.length > 0) {
        throw ApplicationFailure.retryable(
          `missing in ${storage.name} storage: ${missing.join(', ')}`,
          ASSET_MISSING,
        );
      }
      const job = await transitionJobInTransaction(db, jobId, 'pending_entitlement', {
        step: 'verify_assets',
        files: keys.length,
      });
      return job.status;
    },

    /**
     * Makes the order's entitlements usable: `pending_claim` for guests, `active` for known
     * accounts — unless a refund or dispute says otherwise (then `revoked` or `suspended`).
     */
    async activateEntitlements({ jobId, orderId }: JobStep): Promise<ActivatedEntitlements> {
      return activateOrderEntitlements(db, jobId, orderId);
    },

    /** Records that a step keeps failing (the job shows `pending_retry` until it recovers). */
    async markJobRetrying({
      jobId,
      step,
      error,
    }: {
      jobId: string;
      step: string;
      error: string;
    }): Promise<FulfillmentStatus> {
      const job = await transitionJobWithError(db, jobId, 'pending_retry', { step, error }, error);
      return job.status;
    },

    /** A failure no retry can fix: the job (when there is one) needs attention; one alert. */
    async flagNeedsAttention(problem: NeedsAttention): Promise<void> {
      if (problem.jobId) {
        await transitionJobWithError(
          db,
          problem.jobId,
          'needs_attention',
          { type: problem.type, error: problem.message },
          problem.message,
        );
      }
      await raiseAlert(db, alerts, {
        key: `needs_attention:${problem.workflowId}:${problem.type}`,
        kind: 'fulfillment.needs_attention',
        severity: 'critical',
        summary: `${problem.workflowId} needs attention: ${problem.message}`,
        jobId: problem.jobId,
        detail: { ...problem },
      });
    },

    /** Product analytics for a fulfilled order, once per order however often retried. */
    async emitAnalytics({ orderId }: JobStep): Promise<void> {
      await recordFulfillmentAnalytics(db, analytics, orderId);
    },

    /** Marks the job completed once every step succeeded (a revoked job stays revoked). */
    async completeJob({ jobId }: JobStep): Promise<FulfillmentStatus> {
      const job = await transitionJobInTransaction(db, jobId, 'completed', { step: 'complete' });
      return job.status;
    },
  };
}

export type FulfillmentActivities = ReturnType<typeof createFulfillmentActivities>;
