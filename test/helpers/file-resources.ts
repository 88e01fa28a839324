// What one test file owns alone. Test files run side by side against the suite's one Temporal
// server and one PostgreSQL server; a worker, an outbox relay or a gap check of one file must
// never take another file's work (an email sent through the wrong SMTP sink, an analytics row
// delivered to the wrong Segment). So each file gets its own database, copied from the suite's
// migrated template, and its own task queue. `test/helpers/file-setup.ts` makes them.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { copyDatabase, dropDatabase } from '../../db/admin.ts';

let databaseUrl: string | undefined;

/** The file's task queue: every worker and start of this file's stacks uses it. */
export const fileTaskQueue = `fulfillment-test-${randomBytes(4).toString('hex')}`;

/** This test file's own database (migrated, demo catalog seeded). */
export function fileDatabaseUrl(): string {
  if (!databaseUrl)
    throw new Error('no file database: test/helpers/file-setup.ts is not in setupFiles');
  return databaseUrl;
}

/** Copies the suite's template into a database of this file's own; returns its teardown. */
export async function createFileDatabase(): Promise<() => Promise<void>> {
  const adminUrl = inject('adminDatabaseUrl');
  const template = inject('templateDatabase');
  const name = `${template}_f${randomBytes(4).toString('hex')}`;
  await copyDatabase(adminUrl, name, template);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  databaseUrl = url.toString();
  return () => dropDatabase(adminUrl, name);
}
