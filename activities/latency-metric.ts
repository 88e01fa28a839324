import type { Db } from '../db/database.ts';
import { findReceipt } from '../db/queries/order-emails.ts';
import { fulfillmentJobsFailed, fulfillmentLatency } from '../observability/metrics.ts';
import type { NeedsAttention, OrderEmailKind } from '../workflows/contracts.ts';

type SendOrderEmail = (input: {
  orderId: string;
  kind: OrderEmailKind;
  sequence?: number;
}) => Promise<void>;

type FlagNeedsAttention = (problem: NeedsAttention) => Promise<void>;

/**
 * Wraps the activities to observe `fulfillment_latency_seconds` when an order's receipt
 * (`delivery`) is sent for the first time (orders.paid_at to email_deliveries.sent_at), and to
 * count `fulfillment_jobs_failed_total` when a job is flagged needs_attention — counted where
 * it happens, so a scrape reads no table.
 */
export function withFulfillmentMetrics<
  T extends { sendOrderEmail: SendOrderEmail; flagNeedsAttention: FlagNeedsAttention },
>(activities: T, db: Db): T {
  const send = activities.sendOrderEmail;
  const flag = activities.flagNeedsAttention;
  return {
    ...activities,
    async flagNeedsAttention(problem: NeedsAttention) {
      await flag(problem);
      if (problem.jobId) fulfillmentJobsFailed.inc();
    },
    async sendOrderEmail(input: Parameters<SendOrderEmail>[0]) {
      if (input.kind !== 'delivery') return send(input);
      const before = await findReceipt(db, input.orderId);
      await send(input);
      if (before?.sent_at) return;
      const after = await findReceipt(db, input.orderId);
      if (after?.sent_at) {
        const seconds = (after.sent_at.getTime() - after.paid_at.getTime()) / 1000;
        fulfillmentLatency.observe(Math.max(0, seconds));
      }
    },
  };
}
