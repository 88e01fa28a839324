import { sql } from 'kysely';
import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { Db, DbExecutor } from '../database.ts';
import { recordAudit } from './audit.ts';
import { asBuffer } from './webhook-events.ts';

/** What happened to one kind of record. */
export interface DsarTableReport {
  table: string;
  deleted: number;
  redacted: number;
  kept: number;
  why: string;
}

/** What replaces a deleted address everywhere it is kept in text. */
export const REDACTED = '[redacted]';

/** An ILIKE pattern for text containing `value` literally (`_` and `%` are not wildcards). */
const containing = (value: string): string => `%${value.replace(/[\\%_]/g, '\\$&')}%`;

/** A case-insensitive POSIX pattern matching the address literally. */
const literalPattern = (email: string): string => email.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function redactJsonColumn(
  trx: DbExecutor,
  table: 'webhook_events' | 'alerts' | 'audit_log',
  column: 'payload' | 'detail',
  email: string,
): Promise<number> {
  const pattern = literalPattern(email);
  const result = await sql`
    update ${sql.table(table)}
       set ${sql.ref(column)} = regexp_replace(${sql.ref(column)}::text, ${pattern}, ${REDACTED}, 'gi')::jsonb
     where ${sql.ref(column)}::text ilike ${containing(email)}`.execute(trx);
  return Number(result.numAffectedRows ?? 0n);
}

/**
 * Cuts the address out of inbox payloads (jsonb) and raw bodies (bytea), returning how many
 * events changed. The raw bytes are matched and rewritten byte-wise (latin1), so bodies that
 * are not UTF-8 or carry a U+0000 — those jsonb could not hold — are redacted too.
 */
async function redactWebhookBodies(trx: DbExecutor, email: string): Promise<number> {
  const pattern = literalPattern(email);
  const jsonb = await sql<{ id: string }>`
    update webhook_events
       set payload = regexp_replace(payload::text, ${pattern}, ${REDACTED}, 'gi')::jsonb
     where payload::text ilike ${containing(email)}
    returning id`.execute(trx);
  const raw = await trx
    .selectFrom('webhook_events')
    .select(['id', 'raw_body'])
    // `escape` keeps printable ASCII as it is: an address in the bytes reads as itself.
    .where(sql<string>`encode(raw_body, 'escape')`, 'ilike', containing(email))
    .execute();
  const inBytes = new RegExp(literalPattern(Buffer.from(email, 'utf8').toString('latin1')), 'gi');
  for (const row of raw) {
    if (!row.raw_body) continue;
    const redacted = asBuffer(row.raw_body).toString('latin1').replace(inBytes, REDACTED);
    await trx
      .updateTable('webhook_events')
      .set({ raw_body: Buffer.from(redacted, 'latin1') })
      .where('id', '=', row.id)
      .execute();
  }
  return new Set([...jsonb.rows.map((row) => row.id), ...raw.map((row) => row.id)]).size;
}

/**
 * Erases a person's data (a data subject's deletion request; `email` lower-cased) in one
 * transaction: personal fields are deleted or redacted wherever they are stored, while what
 * finance must keep — orders with their amounts and Stripe ids — stays, tied to an anonymous
 * customer. Its audit entry is part of the transaction: the target is `audit.subject` (the
 * address's keyed hash) and the address is cut out of the reason. Returns what happened to
 * each table; `progress` hears which one is next.
 */
export async function erasePersonalData(
  db: Db,
  email: string,
  audit: { subject: string; operator: string; role: string; reason: string },
  progress: (line: string) => void,
): Promise<{ customers: number; tables: DsarTableReport[] }> {
  return db.transaction().execute(async (trx) => {
    const tables: DsarTableReport[] = [];
    const customers = await trx
      .selectFrom('customers')
      .select(['id'])
      .where('email', '=', email)
      .execute();
    const customerIds = customers.map((c) => c.id);
    const orderIds = customerIds.length
      ? (
          await trx
            .selectFrom('orders')
            .select('id')
            .where('customer_id', 'in', customerIds)
            .execute()
        ).map((o) => o.id)
      : [];
    const entitlementIds = customerIds.length
      ? (
          await trx
            .selectFrom('entitlements')
            .select('id')
            .where('customer_id', 'in', customerIds)
            .execute()
        ).map((e) => e.id)
      : [];

    progress(`claim tokens…`);
    const claimTokens = customerIds.length
      ? await trx
          .deleteFrom('claim_tokens')
          .where('customer_id', 'in', customerIds)
          .executeTakeFirst()
      : null;
    tables.push({
      table: 'claim_tokens',
      deleted: Number(claimTokens?.numDeletedRows ?? 0n),
      redacted: 0,
      kept: 0,
      why: 'claim links are useless without the account',
    });

    progress(`download log…`);
    const downloads = entitlementIds.length
      ? await trx
          .updateTable('download_events')
          .set({ ip: null, user_agent: null })
          .where('entitlement_id', 'in', entitlementIds)
          .where((eb) => eb.or([eb('ip', 'is not', null), eb('user_agent', 'is not', null)]))
          .executeTakeFirst()
      : null;
    tables.push({
      table: 'download_events',
      deleted: 0,
      redacted: Number(downloads?.numUpdatedRows ?? 0n),
      kept: 0,
      why: 'IP addresses and user agents removed; the times and outcomes stay as anonymous counts',
    });

    progress(`emails…`);
    const emails = await trx
      .updateTable('email_deliveries')
      .set({ recipient: REDACTED, subject: REDACTED, html: REDACTED, text: REDACTED })
      .where((eb) =>
        eb.or([
          eb(eb.fn('lower', ['recipient']), '=', email),
          ...(orderIds.length ? [eb('order_id', 'in', orderIds)] : []),
        ]),
      )
      .where('recipient', '<>', REDACTED)
      .executeTakeFirst();
    tables.push({
      table: 'email_deliveries',
      deleted: 0,
      redacted: Number(emails.numUpdatedRows ?? 0n),
      kept: 0,
      why: 'address and stored copies (subject, HTML, text) removed; status rows stay so a key is never sent twice',
    });

    progress(`analytics…`);
    const analytics = await trx
      .deleteFrom('analytics_events')
      .where((eb) =>
        eb.or([
          ...(customerIds.length ? [eb('customer_id', 'in', customerIds)] : []),
          ...(orderIds.length ? [eb('order_id', 'in', orderIds)] : []),
          eb(sql`coalesce(properties::text, '')`, 'ilike', containing(email)),
        ]),
      )
      .executeTakeFirst();
    tables.push({
      table: 'analytics_events',
      deleted: Number(analytics.numDeletedRows ?? 0n),
      redacted: 0,
      kept: 0,
      why: 'product analytics are not needed once the person is gone',
    });

    progress(`webhook inbox…`);
    tables.push({
      table: 'webhook_events',
      deleted: 0,
      redacted: await redactWebhookBodies(trx, email),
      kept: 0,
      why: 'the address is cut out of Stripe payloads and of their raw bytes; the events stay for 13 months as the inbox record',
    });

    progress(`rewards…`);
    const rewards = await trx
      .updateTable('rewards')
      .set({ email: sql<string>`'deleted-' || reward_id || '@redacted.invalid'`, user_id: null })
      .where('email', '=', email)
      .executeTakeFirst();
    tables.push({
      table: 'rewards',
      deleted: 0,
      redacted: Number(rewards.numUpdatedRows ?? 0n),
      kept: 0,
      why: 'address and account id removed; the grant stays for the mission audit trail',
    });

    progress(`alerts and audit trail…`);
    const alertSummaries = await trx
      .updateTable('alerts')
      .set({
        summary: sql<string>`regexp_replace(summary, ${literalPattern(email)}, ${REDACTED}, 'gi')`,
      })
      .where('summary', 'ilike', containing(email))
      .executeTakeFirst();
    const alertDetails = await redactJsonColumn(trx, 'alerts', 'detail', email);
    tables.push({
      table: 'alerts',
      deleted: 0,
      redacted: Number(alertSummaries.numUpdatedRows ?? 0n) + alertDetails,
      kept: 0,
      why: 'address cut out of alert texts',
    });
    const auditTargets = await trx
      .updateTable('audit_log')
      .set({ target: REDACTED })
      .where((eb) => eb(eb.fn('lower', ['target']), '=', email))
      .executeTakeFirst();
    // Operators' reasons are free text ("ticket 4713: moved to a@b.c"): cut the address out.
    await trx
      .updateTable('audit_log')
      .set({
        reason: sql<string>`regexp_replace(reason, ${literalPattern(email)}, ${REDACTED}, 'gi')`,
      })
      .where('reason', 'ilike', containing(email))
      .execute();
    const auditDetails = await redactJsonColumn(trx, 'audit_log', 'detail', email);
    tables.push({
      table: 'audit_log',
      deleted: 0,
      redacted: Number(auditTargets.numUpdatedRows ?? 0n) + auditDetails,
      kept: 0,
      why: 'who did what stays; the address is cut out',
    });

    progress(`account merges…`);
    // The data points an operator checked before moving purchases (a postcode, a name…).
    const merges = customerIds.length
      ? await trx
          .updateTable('customer_merges')
          .set({
            verification: sql<string>`(select coalesce(jsonb_agg(point || jsonb_build_object('value', ${REDACTED}::text)), '[]'::jsonb)
                                   from jsonb_array_elements(verification) point)`,
            reason: sql<string>`regexp_replace(reason, ${literalPattern(email)}, ${REDACTED}, 'gi')`,
          })
          .where((eb) =>
            eb.or([
              eb('from_customer_id', 'in', customerIds),
              eb('to_customer_id', 'in', customerIds),
            ]),
          )
          .executeTakeFirst()
      : null;
    tables.push({
      table: 'customer_merges',
      deleted: 0,
      redacted: Number(merges?.numUpdatedRows ?? 0n),
      kept: 0,
      why: 'verification values removed; which customers were merged, when and by whom stays',
    });

    progress(`customers and orders…`);
    const anonymised = customerIds.length
      ? await trx
          .updateTable('customers')
          .set({
            email: sql<string>`'deleted-' || id || '@redacted.invalid'`,
            auth_user_id: null,
            updated_at: sql<Date>`now()`,
          })
          .where('id', 'in', customerIds)
          .executeTakeFirst()
      : null;
    tables.push({
      table: 'customers',
      deleted: 0,
      redacted: Number(anonymised?.numUpdatedRows ?? 0n),
      kept: 0,
      why: 'address and account link removed; an anonymous row stays because finance keeps the orders',
    });
    tables.push({
      table: 'orders',
      deleted: 0,
      redacted: 0,
      kept: orderIds.length,
      why: 'amounts, currency, dates and Stripe ids are kept for accounting; they point to the anonymous customer',
    });
    tables.push({
      table: 'entitlements',
      deleted: 0,
      redacted: 0,
      kept: entitlementIds.length,
      why: 'hold no personal data; belong to the anonymous customer (no one can sign in to them)',
    });

    tables.push({
      table: 'temporal workflow histories',
      deleted: 0,
      redacted: 0,
      kept: orderIds.length,
      why: 'hold ids only: payloads are encrypted and CustomerEmail is a keyed hash, not the address; closed runs expire with the namespace retention',
    });

    await recordAudit(trx, {
      actor: audit.operator,
      action: 'dsar.deleted',
      target: audit.subject,
      reason: audit.reason.replace(new RegExp(literalPattern(email), 'gi'), REDACTED),
      detail: {
        role: audit.role,
        customers: customerIds.length,
        tables: Object.fromEntries(
          tables.map((t) => [t.table, { deleted: t.deleted, redacted: t.redacted, kept: t.kept }]),
        ),
      },
    });
    return { customers: customerIds.length, tables };
  });
}

/**
 * The orders of the customers with this email (lower-cased), with their jobs' status: what a
 * DSAR revokes first.
 */
export async function findOrdersOfEmail(
  db: DbExecutor,
  email: string,
): Promise<{ id: string; purchase_key: string; job_status: FulfillmentStatus | null }[]> {
  return db
    .selectFrom('orders')
    .innerJoin('customers', 'customers.id', 'orders.customer_id')
    .leftJoin('fulfillment_jobs', 'fulfillment_jobs.order_id', 'orders.id')
    .select(['orders.id', 'orders.purchase_key', 'fulfillment_jobs.status as job_status'])
    .where('customers.email', '=', email)
    .orderBy('orders.purchase_key')
    .execute();
}
