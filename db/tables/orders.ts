import type { Generated, Insertable, Selectable } from 'kysely';
import type { OrderSource } from '../../workflows/contracts.ts';

/**
 * One order per purchase key — the payment intent, or the checkout session when a purchase
 * has none (100 %-off coupons). The unique constraints are the idempotency guard.
 */
export interface OrdersTable {
  id: Generated<string>;
  purchase_key: string;
  source: OrderSource;
  payment_intent_id: string | null;
  checkout_session_id: string | null;
  customer_id: string;
  amount_total: number | null;
  currency: string | null;
  paid_at: Date;
  created_at: Generated<Date>;
}

export type Order = Selectable<OrdersTable>;
export type NewOrder = Insertable<OrdersTable>;
