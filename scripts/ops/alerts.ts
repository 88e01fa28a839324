import { parseArgs } from 'node:util';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import type { AlertStatus } from '../../db/tables/alerts.ts';
import { alertSinksFromConfig } from '../../drivers/alert-sinks.ts';
import {
  acknowledgeAlert,
  ALERT_STATUSES,
  listAlerts,
  resolveAlert,
} from '../../support/alerts.ts';
import { printRows } from '../lib/table.ts';
import { authorship, parsePageLimit, parseSince } from './common.ts';
import { UsageError } from './events.ts';

export const ALERTS_USAGE = `alerts list [--status open|acknowledged|resolved] [--kind K] [--since ISO] [--limit N] [--before ID]
                                    newest first, with each sink's delivery (pending, attempts, error)
alerts ack <id> --operator NAME --reason TEXT       acknowledge (PagerDuty acknowledge event)
alerts resolve <id> --operator NAME --reason TEXT   resolve (PagerDuty resolve event)`;

/** `npm run ops -- alerts …`: what paged, whether every sink has it, and who took it. */
export async function runAlertsCommand(
  argv: string[],
  { db, config, json }: { db: Db; config: Config; json: boolean },
): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      status: { type: 'string' },
      kind: { type: 'string' },
      since: { type: 'string' },
      limit: { type: 'string' },
      before: { type: 'string' },
      operator: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  switch (sub) {
    case 'list': {
      if (values.status && !ALERT_STATUSES.includes(values.status as AlertStatus))
        throw new UsageError(`--status: one of ${ALERT_STATUSES.join(', ')}`);
      const since = parseSince(values.since);
      const page = await listAlerts(db, {
        status: values.status as AlertStatus | undefined,
        kind: values.kind,
        since,
        before: values.before,
        limit: parsePageLimit(values.limit),
      });
      if (json) {
        console.log(JSON.stringify(page, null, 2));
        return;
      }
      printRows(
        page.items.map((alert) => ({
          id: alert.id,
          created: alert.created_at,
          severity: alert.severity,
          status: alert.status,
          kind: alert.kind,
          summary: alert.summary,
          delivered:
            alert.deliveries.length === 0
              ? 'no sinks'
              : alert.deliveries
                  .map(
                    (d) =>
                      `${d.sink}/${d.event}:${d.deliveredAt ? 'ok' : `pending(${d.attempts})`}`,
                  )
                  .join(' '),
          by: alert.resolved_by ?? alert.acknowledged_by,
        })),
        false,
      );
      if (page.next) console.log(`(more: --before ${page.next} for the next page)`);
      return;
    }
    case 'ack':
    case 'resolve': {
      const id = positionals[0];
      if (!id) throw new UsageError(`alerts ${sub} needs an alert id\n${ALERTS_USAGE}`);
      const who = authorship(values, ALERTS_USAGE);
      const sinks = alertSinksFromConfig(config);
      const result =
        sub === 'ack'
          ? await acknowledgeAlert(db, sinks, id, who)
          : await resolveAlert(db, sinks, id, who);
      if (json) {
        console.log(JSON.stringify(result, null, 2));
        return;
      }
      printRows(
        [
          {
            id: result.alert.id,
            status: result.alert.status,
            changed: result.changed,
            summary: result.alert.summary,
          },
        ],
        false,
      );
      return;
    }
    default:
      throw new UsageError(`unknown alerts command ${sub ?? '(none)'}\n${ALERTS_USAGE}`);
  }
}
