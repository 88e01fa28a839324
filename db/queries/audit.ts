import type { AuditAction } from '../audit-actions.ts';
import type { DbExecutor } from '../database.ts';

export interface AuditRecord {
  actor: string;
  /** One of AUDIT_ACTIONS (db/audit-actions.ts; documented in docs/AUDIT.md). */
  action: AuditAction;
  target?: string | null;
  reason?: string | null;
  detail?: Record<string, unknown> | null;
  requestId?: string | null;
}

/** Appends to `audit_log`; pass a transaction to make the entry part of the change it records. */
export async function recordAudit(db: DbExecutor, entry: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: entry.actor,
      action: entry.action,
      target: entry.target ?? null,
      reason: entry.reason ?? null,
      detail: entry.detail ? JSON.stringify(entry.detail) : null,
      request_id: entry.requestId ?? null,
    })
    .execute();
}
