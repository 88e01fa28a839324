import { parseArgs } from 'node:util';
import type { Db } from '../../db/database.ts';
import { listAudit } from '../../support/audit.ts';
import { printRows } from '../lib/table.ts';
import { parsePageLimit, parseSince } from './common.ts';
import { UsageError } from './events.ts';

export const AUDIT_USAGE = `audit list [--action A] [--actor NAME] [--since ISO] [--order ID|PI|KEY] [--limit N] [--before ID]
                                    audit_log newest first (actions: docs/AUDIT.md)`;

/** `npm run ops -- audit list`: who did what, to which target, and why. */
export async function runAuditCommand(
  argv: string[],
  { db, json }: { db: Db; json: boolean },
): Promise<void> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      action: { type: 'string' },
      actor: { type: 'string' },
      since: { type: 'string' },
      order: { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
    },
  });
  if (sub !== 'list')
    throw new UsageError(`unknown audit command ${sub ?? '(none)'}\n${AUDIT_USAGE}`);
  const since = parseSince(values.since);
  const page = await listAudit(db, {
    action: values.action,
    actor: values.actor,
    since,
    order: values.order,
    before: values.before,
    limit: parsePageLimit(values.limit),
  });
  if (json) {
    console.log(JSON.stringify(page, null, 2));
    return;
  }
  printRows(
    page.items.map((row) => ({
      id: row.id,
      at: row.created_at,
      actor: row.actor,
      action: row.action,
      target: row.target,
      reason: row.reason,
      detail: row.detail,
    })),
    false,
  );
  if (page.next) console.log(`(more: --before ${page.next} for the next page)`);
}
