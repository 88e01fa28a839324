import type { Generated, Insertable, Selectable } from 'kysely';

/** A guest's claim link: the token itself is never stored, only its SHA-256. */
export interface ClaimTokensTable {
  id: Generated<string>;
  token_hash: string;
  customer_id: string;
  expires_at: Date;
  used_at: Date | null;
  /** The auth user id that used it. */
  used_by: string | null;
  created_at: Generated<Date>;
}

export type ClaimToken = Selectable<ClaimTokensTable>;
export type NewClaimToken = Insertable<ClaimTokensTable>;
