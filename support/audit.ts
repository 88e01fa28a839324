import { isAuditAction, AUDIT_ACTIONS } from '../db/audit-actions.ts';
import type { Db } from '../db/database.ts';
import { findOrderAuditTargets, listAuditEntries } from '../db/queries/audit.ts';
import { OperationError } from './context.ts';

export interface AuditQuery {
  action?: string | undefined;
  actor?: string | undefined;
  since?: Date | undefined;
  /** An order id, payment intent or purchase key: the rows about that order. */
  order?: string | undefined;
  /** The previous page's `next`. */
  before?: string | undefined;
  limit: number;
}

export type AuditPage = {
  items: Awaited<ReturnType<typeof listAuditEntries>>;
  next: string | null;
};

/**
 * Reads `audit_log`, newest first, filtered by action (one of AUDIT_ACTIONS), actor, time and
 * order (its id, payment intent or purchase key: the rows about the order, its job and its
 * entitlements); `next` pages on. Read-only.
 */
export async function listAudit(db: Db, query: AuditQuery): Promise<AuditPage> {
  if (query.action !== undefined && !isAuditAction(query.action))
    throw new OperationError('invalid', `action: one of ${AUDIT_ACTIONS.join(', ')}`);
  if (query.before !== undefined && !/^\d{1,18}$/.test(query.before))
    throw new OperationError('invalid', 'before: an audit row id (digits)');
  let targets: string[] | undefined;
  let orderId: string | undefined;
  if (query.order !== undefined) {
    const found = await findOrderAuditTargets(db, query.order);
    if (!found) throw new OperationError('not_found', `no order matches ${query.order}`);
    ({ targets, orderId } = found);
  }
  const rows = await listAuditEntries(db, {
    action: query.action,
    actor: query.actor,
    since: query.since,
    targets,
    orderId,
    beforeId: query.before,
    limit: query.limit + 1,
  });
  const items = rows.slice(0, query.limit);
  return { items, next: rows.length > query.limit ? (items.at(-1)?.id ?? null) : null };
}
