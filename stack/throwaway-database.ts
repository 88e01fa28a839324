import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectDatabase } from '../db/connect.ts';
import { prepareLocalDatabase } from '../scripts/lib/services.ts';

/** The machine's PostgreSQL admin database; DATABASE_URL may point at another server's. */
export const adminDatabaseUrl = (): string =>
  process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function runAdminStatement(adminUrl: string, statement: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(statement);
  } finally {
    await admin.end();
  }
}

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
  await runAdminStatement(adminUrl, `create database ${name}`);
  const drop = () => runAdminStatement(adminUrl, `drop database if exists ${name} with (force)`);
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
