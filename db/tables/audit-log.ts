import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

/** Who did what to which target, and why: every admin action and every rejected webhook. */
export interface AuditLogTable {
  id: Generated<string>;
  /** `stripe`, `system`, `relay`, `gap-check` or an operator's name. */
  actor: string;
  action: string;
  target: string | null;
  reason: string | null;
  detail: ColumnType<unknown, string | null, never> | null;
  request_id: string | null;
  created_at: Generated<Date>;
}

export type AuditEntry = Selectable<AuditLogTable>;
export type NewAuditEntry = Insertable<AuditLogTable>;
