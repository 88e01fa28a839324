import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { fileDatabaseUrl } from '../helpers/file-resources.ts';

describe('database connection', () => {
  let db: Db;
  let admin: Db;
  beforeAll(async () => {
    // One connection, so the query after the cut must go through a replacement.
    db = await connectDatabase({ kind: 'postgres', url: fileDatabaseUrl(), poolSize: 1 });
    admin = await connectDatabase({ kind: 'postgres', url: fileDatabaseUrl(), poolSize: 1 });
  });
  afterAll(async () => {
    await db.destroy();
    await admin.destroy();
  });

  it('survives the server dropping an idle connection and answers the next query', async () => {
    const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(db);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      // What a PostgreSQL restart or failover does to every idle connection.
      await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(admin);
      await vi.waitFor(() => expect(warn).toHaveBeenCalled());
      expect(String(warn.mock.calls[0]?.[0])).toContain('database connection lost');
      expect(String(warn.mock.calls[0]?.[0])).not.toContain('postgres://');
    } finally {
      warn.mockRestore();
    }
    const after = await sql<{ answer: number }>`select 42 as answer`.execute(db);
    expect(after.rows).toEqual([{ answer: 42 }]);
  });

  it('survives losing a connection in the middle of a transaction: it fails, the next query works', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      const transaction = db.transaction().execute(async (trx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
        await sql`select pg_terminate_backend(${rows[0]!.pid})`.execute(admin);
        // The connection is checked out and idle between statements when the server drops it.
        await vi.waitFor(() => expect(warn).toHaveBeenCalled());
        await sql`select 1`.execute(trx);
      });
      await expect(transaction).rejects.toThrow();
    } finally {
      warn.mockRestore();
    }
    const after = await sql<{ answer: number }>`select 7 as answer`.execute(db);
    expect(after.rows).toEqual([{ answer: 7 }]);
  });
});
