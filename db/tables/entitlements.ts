import type { Generated, Insertable, Selectable } from 'kysely';
import type { EntitlementStatus } from '../../workflows/contracts.ts';

/** One entitlement per order and product; `processing` is never downloadable. */
export interface EntitlementsTable {
  id: Generated<string>;
  order_id: string;
  product_id: string;
  customer_id: string;
  status: EntitlementStatus;
  archived: Generated<boolean>;
  last_download_at: Date | null;
  /** Set once storage and persistence succeeded; until then the entitlement is `processing`. */
  activated_at: Date | null;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export type Entitlement = Selectable<EntitlementsTable>;
export type NewEntitlement = Insertable<EntitlementsTable>;
