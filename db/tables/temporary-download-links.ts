import type { Generated, Selectable } from 'kysely';

/** A download link support issued for one entitlement, with its own expiry; revocable. */
export interface TemporaryDownloadLinksTable {
  id: Generated<string>;
  entitlement_id: string;
  expires_at: Date;
  /** The operator who issued it. */
  created_by: string;
  created_at: Generated<Date>;
  revoked_at: Date | null;
  revoked_by: string | null;
}

export type TemporaryDownloadLink = Selectable<TemporaryDownloadLinksTable>;
