import type { Generated, Insertable, Selectable } from 'kysely';

/** One row per download attempt through an emailed link or the storefront API. */
export interface DownloadEventsTable {
  id: Generated<string>;
  entitlement_id: string;
  format: string;
  source: 'email_link' | 'api';
  /** `issued`, or why it was refused: `revoked`, `suspended`, `processing`. */
  outcome: string;
  ip: string | null;
  user_agent: string | null;
  created_at: Generated<Date>;
}

export type DownloadEvent = Selectable<DownloadEventsTable>;
export type NewDownloadEvent = Insertable<DownloadEventsTable>;
