import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { prepareLocalDatabase } from '../../scripts/lib/services.ts';

/**
 * A database of the test's own (migrated, demo catalog seeded), for tests whose background
 * work — a relay, a gap check — must not see other test files' rows. `drop` removes it.
 */
export async function createScratchDatabase(): Promise<{
  url: string;
  db: Db;
  drop(): Promise<void>;
}> {
  const adminUrl = inject('adminDatabaseUrl');
  const name = `fulfillment_scratch_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const db = await connectDatabase({ kind: 'postgres', url: url.toString() });
  await prepareLocalDatabase(db);
  return {
    url: url.toString(),
    db,
    async drop() {
      await db.destroy();
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
