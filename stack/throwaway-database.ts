import { randomBytes } from 'node:crypto';
import { createDatabase, dropDatabase, listDatabases } from '../db/admin.ts';
import { connectDatabase } from '../db/connect.ts';
import { prepareLocalDatabase } from './demo-data.ts';

/** The machine's PostgreSQL admin database; DATABASE_URL may point at another server's. */
export const adminDatabaseUrl = (): string =>
  process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface ThrowawayDatabase {
  url: string;
  /** Drops the database, closing whatever connections are still open on it. */
  drop(): Promise<void>;
}

/**
 * Creates `<prefix>_<random>` on the admin server, migrated and with the demo catalog, for a
 * test run, a scratch test, a benchmark or a history recording. `drop` removes it.
 */
export async function createThrowawayDatabase(
  prefix: string,
  adminUrl: string = adminDatabaseUrl(),
): Promise<ThrowawayDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  await createDatabase(adminUrl, name);
  const drop = () => dropDatabase(adminUrl, name);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  try {
    const db = await connectDatabase({ kind: 'postgres', url: url.toString() });
    try {
      await prepareLocalDatabase(db);
    } finally {
      await db.destroy();
    }
  } catch (error) {
    await drop();
    throw error;
  }
  return { url: url.toString(), drop };
}

/** Drops every database whose name starts with `prefix` (a run's leftovers). */
export async function dropDatabasesNamed(adminUrl: string, prefix: string): Promise<void> {
  for (const name of await listDatabases(adminUrl, prefix)) await dropDatabase(adminUrl, name);
}
