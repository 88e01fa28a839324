import { sql } from 'kysely';
import type { FulfillmentStatus } from '../../workflows/contracts.ts';
import type { DbExecutor } from '../database.ts';
import type {
  NewWebhookEvent,
  WebhookEvent,
  WebhookOutcome,
  WebhookResult,
} from '../tables/webhook-events.ts';

export interface RecordedWebhookEvent {
  event: WebhookEvent;
  /** False when the provider had delivered this event id before. */
  inserted: boolean;
}

/** bytea as a Buffer: pg returns Buffers, embedded PGlite plain Uint8Arrays. */
export const asBuffer = (bytes: Uint8Array): Buffer =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * An inbox row's event: its jsonb payload, or — where PostgreSQL could not hold it (a U+0000,
 * a body that is not UTF-8) — the raw body parsed here, exactly as it was signed.
 */
export function inboxPayload(row: { payload: unknown; raw_body?: Uint8Array | null }): unknown {
  if (row.payload !== null && row.payload !== undefined) return row.payload;
  if (!row.raw_body) return null;
  try {
    return JSON.parse(asBuffer(row.raw_body).toString('utf8')) as unknown;
  } catch {
    return null;
  }
}

/**
 * Writes the event to the inbox once; a repeat delivery returns the row already there. No audit
 * and no dispatch: the Resend webhook, benchmarks' bare baseline and test fixtures use it.
 */
export async function recordWebhookEvent(
  db: DbExecutor,
  values: NewWebhookEvent,
): Promise<RecordedWebhookEvent> {
  const inserted = await db
    .insertInto('webhook_events')
    .values(values)
    .onConflict((oc) => oc.columns(['provider', 'event_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (inserted) return { event: inserted, inserted: true };
  const existing = await db
    .selectFrom('webhook_events')
    .selectAll()
    .where('provider', '=', values.provider)
    .where('event_id', '=', values.event_id)
    .executeTakeFirstOrThrow();
  return { event: existing, inserted: false };
}

/** What a delivery writes: the event's envelope, how it was routed, and what it carried. */
export interface ReceivedEventValues {
  provider: string;
  eventId: string;
  type: string;
  apiVersion: string | null;
  livemode: boolean;
  eventCreatedAt: Date;
  /** JSON text for the jsonb column, or null where PostgreSQL cannot hold the event. */
  payloadJson: string | null;
  rawBody: Buffer;
  /** Set for events that need no dispatch (ignored, recorded, failed); null: to dispatch. */
  result: WebhookResult | null;
  error: string | null;
  /** The workflow a dispatchable event is routed to. */
  workflowId: string | null;
  /** How long the receiving process holds an undispatched event before the relay may claim it. */
  leaseSeconds: number;
  /**
   * The W3C trace context of the receiving request (null with tracing off): whichever process
   * dispatches the event later continues that trace.
   */
  traceparent: string | null;
}

/** The inbox row as a delivery sees it. */
export type ReceivedWebhookEvent = Pick<
  WebhookEvent,
  | 'id'
  | 'event_id'
  | 'type'
  | 'result'
  | 'error'
  | 'workflow_id'
  | 'deliveries'
  | 'dispatched_at'
  | 'traceparent'
>;

/**
 * Records a verified delivery and its audit entry in ONE statement (one round trip, one
 * commit): the inbox row is inserted — or, for a redelivery, the row already there counts one
 * more delivery and is returned as it stands — and `audit_log` gets `webhook.received` (plus
 * `webhook.failed` when it is recorded as failed) or `webhook.duplicate`. Concurrent copies of
 * one event serialize on the row: exactly one of them inserts.
 */
export async function receiveWebhookEvent(
  db: DbExecutor,
  values: ReceivedEventValues,
  context: { actor: string; requestId: string | null },
): Promise<{ event: ReceivedWebhookEvent; inserted: boolean }> {
  const result = await sql<ReceivedWebhookEvent>`
    with upserted as (
      insert into webhook_events as w (
        provider, event_id, type, api_version, livemode, event_created_at, payload, raw_body,
        result, error, workflow_id, processed_at, next_dispatch_at, traceparent
      ) values (
        ${values.provider}, ${values.eventId}, ${values.type}, ${values.apiVersion},
        ${values.livemode}, ${values.eventCreatedAt}, ${values.payloadJson}::jsonb,
        ${values.rawBody}, ${values.result}, ${values.error}, ${values.workflowId},
        case when ${values.result}::text is null then null else now() end,
        case when ${values.result}::text is null
          then now() + make_interval(secs => ${values.leaseSeconds}) end,
        ${values.traceparent}
      )
      on conflict (provider, event_id) do update set deliveries = w.deliveries + 1
      returning w.id, w.event_id, w.type, w.result, w.error, w.workflow_id, w.deliveries,
        w.dispatched_at, w.traceparent
    ), audited as (
      insert into audit_log (actor, action, target, reason, detail, request_id)
      select ${context.actor},
             case when u.deliveries = 1 then 'webhook.received' else 'webhook.duplicate' end,
             u.event_id, null, jsonb_build_object('type', u.type), ${context.requestId}
        from upserted u
      union all
      select ${context.actor}, 'webhook.failed', u.event_id, u.error, null, ${context.requestId}
        from upserted u
       where u.deliveries = 1 and u.result = 'failed'
    )
    select * from upserted`.execute(db);
  const event = result.rows[0];
  if (!event) throw new Error(`the inbox returned no row for ${values.eventId}`);
  return { event, inserted: event.deliveries === 1 };
}

export async function findWebhookEvent(
  db: DbExecutor,
  provider: string,
  eventId: string,
): Promise<WebhookEvent | undefined> {
  const row = await db
    .selectFrom('webhook_events')
    .selectAll()
    .where('provider', '=', provider)
    .where('event_id', '=', eventId)
    .executeTakeFirst();
  return row && { ...row, payload: inboxPayload(row) };
}

/** An undispatched event a relay claimed, with its event (parsed from the raw body if need be). */
export type ClaimedWebhookEvent = Pick<
  WebhookEvent,
  | 'id'
  | 'event_id'
  | 'type'
  | 'payload'
  | 'received_at'
  | 'dispatch_attempts'
  | 'workflow_id'
  | 'traceparent'
>;

/**
 * Claims up to `limit` undispatched events whose lease or backoff has run out, for
 * `leaseSeconds`, counting the attempt. `FOR UPDATE SKIP LOCKED` keeps concurrent relays (one
 * per api replica) off each other's rows; a relay that dies mid-dispatch leaves its claim to
 * expire. Oldest due first.
 */
export async function claimDueWebhookEvents(
  db: DbExecutor,
  { limit, leaseSeconds }: { limit: number; leaseSeconds: number },
): Promise<ClaimedWebhookEvent[]> {
  const rows = await db
    .updateTable('webhook_events')
    .set((eb) => ({
      next_dispatch_at: sql<Date>`now() + make_interval(secs => ${leaseSeconds})`,
      dispatch_attempts: eb('dispatch_attempts', '+', 1),
    }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('webhook_events')
        .select('id')
        .where('result', 'is', null)
        .where('next_dispatch_at', '<=', sql<Date>`now()`)
        .orderBy('next_dispatch_at')
        .limit(limit)
        .forUpdate()
        .skipLocked(),
    )
    .returning([
      'id',
      'event_id',
      'type',
      'payload',
      // Shipped only when the jsonb could not hold the event.
      sql<Buffer | null>`case when payload is null then raw_body end`.as('raw_body'),
      'received_at',
      'dispatch_attempts',
      'workflow_id',
      // The dispatch continues the trace of the request that recorded the event.
      'traceparent',
    ])
    .execute();
  return rows.map(({ raw_body, ...row }) => ({
    ...row,
    payload: inboxPayload({ ...row, raw_body }),
  }));
}

/**
 * Records, once Temporal has confirmed the start or signal, that the event was dispatched, with
 * its audit entry, in one statement: `processed`, or `duplicate` when it `mayBeDuplicate` and
 * another event already dispatched the same workflow. Returns null when the row was settled
 * already (another dispatch of the same event got there first; only the first one audits).
 * `attemptCounted`: the relay counted the attempt when it claimed the row.
 */
export async function settleWebhookDispatch(
  db: DbExecutor,
  row: Pick<WebhookEvent, 'id' | 'event_id'>,
  {
    workflowId,
    mayBeDuplicate,
    dispatchedBy,
    attemptCounted,
  }: { workflowId: string; mayBeDuplicate: boolean; dispatchedBy: string; attemptCounted: boolean },
): Promise<WebhookResult | null> {
  const result = await sql<{ result: WebhookResult }>`
    with settled as (
      update webhook_events as w
         set result = case when ${mayBeDuplicate} and exists (
                 select 1 from webhook_events o
                  where o.workflow_id = ${workflowId} and o.event_id <> w.event_id
                    and o.dispatched_at is not null)
               then 'duplicate' else 'processed' end,
             dispatched_at = now(), processed_at = now(), dispatched_by = ${dispatchedBy},
             workflow_id = ${workflowId}, error = null, next_dispatch_at = null,
             dispatch_attempts = w.dispatch_attempts + ${attemptCounted ? 0 : 1}
       where w.id = ${row.id} and w.result is null
      returning w.event_id, w.result, w.workflow_id
    ), audited as (
      insert into audit_log (actor, action, target, detail)
      select ${dispatchedBy}, 'webhook.' || s.result, s.event_id,
             jsonb_build_object('workflowId', s.workflow_id)
        from settled s
    )
    select result from settled`.execute(db);
  return result.rows[0]?.result ?? null;
}

/**
 * A dispatch Temporal did not take: the row stays undispatched, with the error, until
 * `retryInSeconds` from now (the relay claims it then).
 */
export async function recordFailedDispatchAttempt(
  db: DbExecutor,
  id: string,
  {
    error,
    retryInSeconds,
    attemptCounted,
  }: { error: string; retryInSeconds: number; attemptCounted: boolean },
): Promise<void> {
  await db
    .updateTable('webhook_events')
    .set((eb) => ({
      error,
      next_dispatch_at: sql<Date>`now() + make_interval(secs => ${retryInSeconds})`,
      dispatch_attempts: attemptCounted
        ? eb.ref('dispatch_attempts')
        : eb('dispatch_attempts', '+', 1),
    }))
    .where('id', '=', id)
    .where('result', 'is', null)
    .execute();
}

/**
 * Settles an undispatched event without a dispatch — Temporal refused it for good, or it needs
 * no workflow — with its audit entry (`webhook.<result>`, the error as the reason), in one
 * statement. False when it was settled already.
 */
export async function settleWebhookEventWithoutDispatch(
  db: DbExecutor,
  row: Pick<WebhookEvent, 'id'>,
  { result, error, actor }: { result: WebhookResult; error: string | null; actor: string },
): Promise<boolean> {
  const settled = await sql<{ event_id: string }>`
    with settled as (
      update webhook_events
         set result = ${result}, error = ${error}, processed_at = now(), next_dispatch_at = null
       where id = ${row.id} and result is null
      returning event_id
    ), audited as (
      insert into audit_log (actor, action, target, reason)
      select ${actor}, ${`webhook.${result}`}, s.event_id, ${error} from settled s
    )
    select event_id from settled`.execute(db);
  return settled.rows.length > 0;
}

/** Gives undispatched events a process held back to the relay at once (it is shutting down). */
export async function releaseWebhookDispatchLeases(
  db: DbExecutor,
  ids: readonly string[],
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('webhook_events')
    .set({ next_dispatch_at: sql<Date>`now()` })
    .where('id', 'in', [...ids])
    .where('result', 'is', null)
    .execute();
}

/** The outcome of an inbox row given its fulfillment's job status (null: no job). */
export function webhookOutcome(
  result: WebhookResult | null,
  workflowId: string | null,
  jobStatus: FulfillmentStatus | null,
): WebhookOutcome {
  if (result === null) return 'pending';
  if (result !== 'processed') return result;
  if (jobStatus === 'completed') return 'fulfilled';
  if (jobStatus === 'needs_attention' || jobStatus === 'revoked') return jobStatus;
  return workflowId !== null ? 'dispatched' : 'processed';
}

export interface WebhookEventFilter {
  /**
   * An outcome (`WEBHOOK_OUTCOMES`). `failed` selects every event whose purchase failed: the
   * gateway's own failures and fulfillments that ended `needs_attention`.
   */
  status?: WebhookOutcome;
  type?: string;
  since?: Date;
  limit?: number;
}

export type ListedWebhookEvent = Omit<WebhookEvent, 'raw_body'> & {
  job_status: FulfillmentStatus | null;
  outcome: WebhookOutcome;
};

/**
 * The inbox, newest first, with each event's outcome: the fulfillment it started is joined by
 * workflow id, so a purchase that failed downstream shows here as `needs_attention`.
 */
export async function listWebhookEvents(
  db: DbExecutor,
  filter: WebhookEventFilter,
): Promise<ListedWebhookEvent[]> {
  let query = db
    .selectFrom('webhook_events as w')
    .leftJoin('fulfillment_jobs as j', 'j.workflow_id', 'w.workflow_id')
    .select([
      'w.id',
      'w.provider',
      'w.event_id',
      'w.type',
      'w.api_version',
      'w.livemode',
      'w.event_created_at',
      'w.payload',
      sql<Buffer | null>`case when w.payload is null then w.raw_body end`.as('raw_body'),
      'w.received_at',
      'w.deliveries',
      'w.dispatched_at',
      'w.dispatched_by',
      'w.processed_at',
      'w.result',
      'w.error',
      'w.workflow_id',
      'w.dispatch_attempts',
      'w.next_dispatch_at',
      'w.traceparent',
      'j.status as job_status',
    ])
    .orderBy('w.id', 'desc');
  const fulfillmentOnly = (status: FulfillmentStatus) =>
    query.where('w.result', '=', 'processed').where('j.status', '=', status);
  switch (filter.status) {
    case undefined:
      break;
    case 'pending':
      query = query.where('w.result', 'is', null);
      break;
    case 'failed':
      query = query.where((eb) =>
        eb.or([
          eb('w.result', '=', 'failed'),
          eb.and([eb('w.result', '=', 'processed'), eb('j.status', '=', 'needs_attention')]),
        ]),
      );
      break;
    case 'fulfilled':
      query = fulfillmentOnly('completed');
      break;
    case 'needs_attention':
    case 'revoked':
      query = fulfillmentOnly(filter.status);
      break;
    case 'dispatched':
      query = query
        .where('w.result', '=', 'processed')
        .where('w.workflow_id', 'is not', null)
        .where((eb) =>
          eb.or([
            eb('j.status', 'is', null),
            eb('j.status', 'not in', ['completed', 'needs_attention', 'revoked']),
          ]),
        );
      break;
    case 'processed':
      query = query.where('w.result', '=', 'processed').where('w.workflow_id', 'is', null);
      break;
    default:
      query = query.where('w.result', '=', filter.status);
  }
  if (filter.type) query = query.where('w.type', '=', filter.type);
  if (filter.since) query = query.where('w.received_at', '>=', filter.since);
  const rows = await query.limit(filter.limit ?? 50).execute();
  return rows.map(({ raw_body, ...row }) => ({
    ...row,
    payload: inboxPayload({ payload: row.payload, raw_body }),
    outcome: webhookOutcome(row.result, row.workflow_id, row.job_status),
  }));
}

/** Deleted per statement: short transactions, so a large prune never holds the table long. */
const PRUNE_BATCH = 5_000;

/**
 * Deletes settled events received more than `months` ago, in batches. Undispatched events are
 * kept whatever their age: they are work still owed.
 */
export async function pruneWebhookEvents(
  db: DbExecutor,
  months: number,
  { dryRun }: { dryRun: boolean },
): Promise<number> {
  const cutoff = sql<Date>`now() - make_interval(months => ${months})`;
  if (dryRun) {
    const row = await db
      .selectFrom('webhook_events')
      .select((eb) => eb.fn.countAll<string>().as('count'))
      .where('received_at', '<', cutoff)
      .where('result', 'is not', null)
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }
  let deleted = 0;
  for (;;) {
    const result = await db
      .deleteFrom('webhook_events')
      .where('id', 'in', (eb) =>
        eb
          .selectFrom('webhook_events')
          .select('id')
          .where('received_at', '<', cutoff)
          .where('result', 'is not', null)
          .limit(PRUNE_BATCH),
      )
      .executeTakeFirst();
    const count = Number(result.numDeletedRows);
    deleted += count;
    if (count < PRUNE_BATCH) return deleted;
  }
}

/** How the inbox's Stripe events were dispatched, for the webhook benchmark. */
export interface DispatchStats {
  /** Milliseconds from the inbox commit to Temporal confirming the start, per dispatched event. */
  lagsMs: number[];
  byRelay: number;
  undispatched: number;
}

/** Dispatch lag and relay pickups of these events (all Stripe events when `eventIds` is null). */
export async function readDispatchStats(
  db: DbExecutor,
  eventIds: readonly string[] | null,
): Promise<DispatchStats> {
  let query = db
    .selectFrom('webhook_events')
    .select([
      sql<number | null>`extract(epoch from (dispatched_at - received_at)) * 1000`.as('lag_ms'),
      'dispatched_by',
      'result',
      'workflow_id',
    ])
    .where('provider', '=', 'stripe');
  if (eventIds) query = query.where('event_id', '=', sql<string>`any(${[...eventIds]}::text[])`);
  const rows = await query.execute();
  return {
    lagsMs: rows.flatMap((row) => (row.lag_ms === null ? [] : [Number(row.lag_ms)])),
    byRelay: rows.filter((row) => row.dispatched_by === 'relay').length,
    undispatched: rows.filter((row) => row.result === null).length,
  };
}

/** Undispatched events received more than `olderThanSeconds` ago: work the relay still owes. */
export async function countOverdueWebhookEvents(
  db: DbExecutor,
  olderThanSeconds: number,
): Promise<number> {
  const row = await db
    .selectFrom('webhook_events')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('result', 'is', null)
    .where('received_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
