import { sql } from 'kysely';
import type { DbExecutor } from '../database.ts';

/** One round trip to the database (`select 1`): resolves when it answers. */
export async function pingDatabase(db: DbExecutor): Promise<void> {
  await sql`select 1`.execute(db);
}
