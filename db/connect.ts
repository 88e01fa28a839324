import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database, Db } from './database.ts';
import { traceQuery } from './tracing.ts';

export type DatabaseTarget =
  { kind: 'postgres'; url: string; poolSize?: number } | { kind: 'pglite'; dataDir: string };

/**
 * Opens the database: a pg pool for any real Postgres, or embedded PGlite (one process only)
 * for `npm start` without DATABASE_URL. The returned Kysely owns the pool; call `destroy()`.
 */
export async function connectDatabase(target: DatabaseTarget): Promise<Db> {
  if (target.kind === 'postgres') {
    const pool = new pg.Pool({
      connectionString: target.url,
      // Ten connections serve the api's short queries and the worker's activity transactions
      // without exhausting a small Postgres (default max_connections is 100).
      max: target.poolSize ?? 10,
    });
    // A connection the server drops (a restart, a failover, a network cut) emits `error`;
    // unheard, it would crash the process. Every connection gets a listener as it opens, so a
    // checked-out one (between a transaction's statements) is covered as well as an idle one;
    // the pool replaces it, and the query that needed it fails (and is retried) like any
    // other database error.
    const lost = (error: Error) =>
      console.warn(
        JSON.stringify({ level: 'warn', msg: 'database connection lost', error: error.message }),
      );
    pool.on('connect', (client) => client.on('error', lost));
    // The pool re-emits an idle connection's error: already logged by the listener above.
    pool.on('error', () => undefined);
    // Each statement is a span of the traced operation that made it (db/tracing.ts).
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), log: traceQuery });
  }
  // Loaded lazily: PGlite is a 10 MB WASM build that production processes never need.
  const [{ PGlite }, { PGliteDialect }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('kysely-pglite-dialect'),
  ]);
  const pglite = await PGlite.create(target.dataDir);
  return new Kysely<Database>({ dialect: new PGliteDialect(pglite), log: traceQuery });
}
