import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Db } from '../db/database.ts';
import { countRateLimitHit, readRateLimitHits } from '../db/queries/rate-limits.ts';

/**
 * A `@fastify/rate-limit` store that counts in PostgreSQL (`rate_limit_counters`, one upsert
 * per request), so a limit holds across every api replica instead of per process. `namespace`
 * keeps one limiter's keys apart from another's (downloads, API callers, …).
 */
export function postgresRateLimitStore(db: Db, namespace: string): FastifyRateLimitStoreCtor {
  class PostgresRateLimitStore implements FastifyRateLimitStore {
    incr(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
    ): void {
      countRateLimitHit(db, `${namespace}:${key}`, timeWindow).then(
        ({ hits, ttlMs }) => callback(null, { current: hits, ttl: ttlMs }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    }

    /** `createRateLimit(...)(request, { increment: false })` peeks with this. */
    read(
      key: string,
      callback: (error: Error | null, result?: { current: number; ttl: number }) => void,
      timeWindow: number,
    ): void {
      readRateLimitHits(db, `${namespace}:${key}`, timeWindow).then(
        ({ hits, ttlMs }) => callback(null, { current: hits, ttl: ttlMs }),
        (error: unknown) => callback(error instanceof Error ? error : new Error(String(error))),
      );
    }

    child(): FastifyRateLimitStore {
      return this;
    }
  }
  return PostgresRateLimitStore;
}
