import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';

/**
 * Counts one request against `key` in a fixed window of `windowMs`, in one upsert, and returns
 * the count in the current window and the milliseconds until it ends. Every api replica counts
 * in the same row, so a limit holds across the fleet; concurrent hits serialize on the row.
 */
export async function countRateLimitHit(
  db: DbExecutor,
  key: string,
  windowMs: number,
): Promise<{ hits: number; ttlMs: number }> {
  const window = sql`make_interval(secs => ${windowMs / 1000})`;
  const result = await sql<{ hits: number; ttl_ms: number }>`
    insert into rate_limit_counters as c (key, window_started_at, hits)
    values (${key}, now(), 1)
    on conflict (key) do update set
      hits = case when c.window_started_at + ${window} <= now() then 1 else c.hits + 1 end,
      window_started_at = case when c.window_started_at + ${window} <= now()
        then now() else c.window_started_at end
    returning c.hits,
      greatest(0, extract(epoch from (c.window_started_at + ${window} - now())) * 1000)::float8
        as ttl_ms`.execute(db);
  const row = result.rows[0]!;
  return { hits: row.hits, ttlMs: Number(row.ttl_ms) };
}

/** The count in `key`'s current window without counting a request (0 when it has ended). */
export async function readRateLimitHits(
  db: DbExecutor,
  key: string,
  windowMs: number,
): Promise<{ hits: number; ttlMs: number }> {
  const window = sql`make_interval(secs => ${windowMs / 1000})`;
  const row = await db
    .selectFrom('rate_limit_counters')
    .select([
      'hits',
      sql<number>`extract(epoch from (window_started_at + ${window} - now())) * 1000`.as('ttl_ms'),
    ])
    .where('key', '=', key)
    .where(sql<boolean>`window_started_at + ${window} > now()`)
    .executeTakeFirst();
  return row ? { hits: row.hits, ttlMs: Number(row.ttl_ms) } : { hits: 0, ttlMs: 0 };
}

/** Deletes counters whose window started more than `olderThanSeconds` ago. */
export async function pruneRateLimitCounters(
  db: DbExecutor,
  olderThanSeconds: number,
): Promise<number> {
  const result = await db
    .deleteFrom('rate_limit_counters')
    .where('window_started_at', '<', sql<Date>`now() - make_interval(secs => ${olderThanSeconds})`)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
