import { inject } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { createThrowawayDatabase } from '../../stack/throwaway-database.ts';

/**
 * A database of the test's own (migrated, demo catalog seeded), for tests whose background
 * work — a relay, a gap check — must not see other test files' rows. `drop` removes it.
 */
export async function createScratchDatabase(): Promise<{
  url: string;
  db: Db;
  drop(): Promise<void>;
}> {
  const database = await createThrowawayDatabase('fulfillment_scratch', inject('adminDatabaseUrl'));
  const db = await connectDatabase({ kind: 'postgres', url: database.url });
  return {
    url: database.url,
    db,
    async drop() {
      await db.destroy();
      await database.drop();
    },
  };
}
