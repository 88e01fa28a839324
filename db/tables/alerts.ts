import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Raised once per key: what needs a human, and where. */
export interface AlertsTable {
  id: Generated<string>;
  alert_key: string;
  kind: string;
  severity: 'warning' | 'critical';
  summary: string;
  detail: ColumnType<unknown, string | null, never> | null;
  job_id: string | null;
  created_at: Generated<Date>;
}

export type Alert = Selectable<AlertsTable>;
export type NewAlert = Insertable<AlertsTable>;
