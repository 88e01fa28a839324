import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { raiseAlert } from '../../support/alerts.ts';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { fileDatabaseUrl } from '../helpers/file-resources.ts';

describe('alerts', () => {
  let db: Db;
  beforeAll(async () => {
    db = await connectDatabase({ kind: 'postgres', url: fileDatabaseUrl() });
  });
  afterAll(() => db.destroy());

  it('stores the whole alert once per key but logs it without buyer addresses', async () => {
    const key = `test:${randomUUID()}`;
    const alert = {
      key,
      kind: 'email_failing',
      severity: 'warning' as const,
      summary: 'receipt to ada.lovelace@example.com failed twice',
      detail: { error: '550 mailbox ada.lovelace%40example.com unknown' },
    };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      expect(await raiseAlert(db, {}, alert)).toBe(true);
      expect(await raiseAlert(db, {}, alert)).toBe(false);
      const logged = warn.mock.calls.map((call) => call.join(' ')).join('\n');
      expect(logged).toContain(key);
      expect(logged).toContain('[email]');
      expect(logged).not.toContain('ada.lovelace');
    } finally {
      warn.mockRestore();
    }
    const rows = await db.selectFrom('alerts').selectAll().where('alert_key', '=', key).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]?.summary).toContain('ada.lovelace@example.com');
  });
});
