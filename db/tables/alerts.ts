import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

export type AlertStatus = 'open' | 'acknowledged' | 'resolved';

/** Raised once per key: what needs a human, and where; open until acknowledged or resolved. */
export interface AlertsTable {
  id: Generated<string>;
  alert_key: string;
  kind: string;
  severity: 'warning' | 'critical';
  summary: string;
  detail: ColumnType<unknown, string | null, never> | null;
  job_id: string | null;
  created_at: Generated<Date>;
  status: Generated<AlertStatus>;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  /** The issue the tracker sink opened for it (set once, by the first delivery that did). */
  tracker_issue_url: string | null;
}

export type Alert = Selectable<AlertsTable>;
export type NewAlert = Insertable<AlertsTable>;
