import type { Kysely, Transaction } from 'kysely';
import type { AlertsTable } from './tables/alerts.ts';
import type { AnalyticsEventsTable } from './tables/analytics-events.ts';
import type { AuditLogTable } from './tables/audit-log.ts';
import type { ClaimTokensTable } from './tables/claim-tokens.ts';
import type { CustomerMergesTable } from './tables/customer-merges.ts';
import type { CustomersTable } from './tables/customers.ts';
import type { DownloadEventsTable } from './tables/download-events.ts';
import type { EmailDeliveriesTable } from './tables/email-deliveries.ts';
import type { EntitlementsTable } from './tables/entitlements.ts';
import type { FulfillmentJobEventsTable, FulfillmentJobsTable } from './tables/fulfillment-jobs.ts';
import type { OrdersTable } from './tables/orders.ts';
import type { OutboxMessagesTable } from './tables/outbox-messages.ts';
import type { PaymentAdjustmentsTable } from './tables/payment-adjustments.ts';
import type { PeriodicJobsTable } from './tables/periodic-jobs.ts';
import type { ProductRevocationsTable } from './tables/product-revocations.ts';
import type { ProductsTable } from './tables/products.ts';
import type { RateLimitCountersTable } from './tables/rate-limit-counters.ts';
import type { ReconciliationRunsTable } from './tables/reconciliation-runs.ts';
import type { RewardsTable } from './tables/rewards.ts';
import type { TemporaryDownloadLinksTable } from './tables/temporary-download-links.ts';
import type { WebhookEventsTable } from './tables/webhook-events.ts';

/** The whole schema, composed from one file per table. */
export interface Database {
  webhook_events: WebhookEventsTable;
  customers: CustomersTable;
  products: ProductsTable;
  orders: OrdersTable;
  entitlements: EntitlementsTable;
  fulfillment_jobs: FulfillmentJobsTable;
  fulfillment_job_events: FulfillmentJobEventsTable;
  email_deliveries: EmailDeliveriesTable;
  audit_log: AuditLogTable;
  payment_adjustments: PaymentAdjustmentsTable;
  alerts: AlertsTable;
  analytics_events: AnalyticsEventsTable;
  rewards: RewardsTable;
  download_events: DownloadEventsTable;
  claim_tokens: ClaimTokensTable;
  temporary_download_links: TemporaryDownloadLinksTable;
  reconciliation_runs: ReconciliationRunsTable;
  periodic_jobs: PeriodicJobsTable;
  outbox_messages: OutboxMessagesTable;
  rate_limit_counters: RateLimitCountersTable;
  product_revocations: ProductRevocationsTable;
  customer_merges: CustomerMergesTable;
}

export type Db = Kysely<Database>;
/** A connection or an open transaction: query functions accept either; the caller owns the transaction. */
export type DbExecutor = Kysely<Database> | Transaction<Database>;
