import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStorage } from '../../scripts/lib/services.ts';
import { getFreePort } from '../../stack/processes.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { auditOf, jsonOf, OPERATOR_TOKENS, operators, ops, purchase } from './support.ts';

/** The api listens (the test download is a real HTTP click on PUBLIC_BASE_URL). */
let stack: TestStack;
let dir: string;
beforeAll(async () => {
  const port = await getFreePort();
  stack = await startTestStack({
    env: { OPERATOR_TOKENS, PUBLIC_BASE_URL: `http://127.0.0.1:${port}` },
  });
  await stack.app.listen({ port, host: '127.0.0.1' });
  dir = await mkdtemp(path.join(os.tmpdir(), 'storage-check-'));
});
afterAll(async () => {
  await stack?.close();
  await rm(dir, { recursive: true, force: true });
});

const as = ['--operator', 'dana', '--reason', 'ticket 7001: download fails'];

interface Check {
  entitlementId: string;
  status: string;
  files: {
    format: string;
    key: string;
    exists: boolean;
    download: { status: number | null; bytes: number | null; error: string | null };
  }[];
}

/** A product of this test's own (two formats), its files in storage, bought by a guest. */
async function purchaseOwnProduct() {
  const suffix = randomBytes(4).toString('hex');
  const product = {
    sku: `ebook-check-${suffix}`,
    slug: `check-${suffix}`,
    title: 'The Check',
    version: 'v1',
    formats: ['pdf', 'epub'],
    stripe_price_id: `price_check_${suffix}`,
  };
  const keys = product.formats.map((f) => `ebooks/${product.slug}/v1/file.${f}`);
  const storage = createStorage(stack.config);
  for (const [i, key] of keys.entries())
    await storage.put(key, new Uint8Array(1000 + i * 234).fill(7));
  const file = path.join(dir, `catalog-${suffix}.json`);
  await writeFile(file, JSON.stringify({ products: [product] }));
  expect((await ops(['catalog', 'import', file, ...as])).code).toBe(0);
  const { paymentIntentId } = await purchase(stack, [product.sku]);
  const [entitlement] = (await purchaseRows(stack.db, paymentIntentId)).entitlements;
  return { keys, entitlementId: entitlement!.id };
}

describe('storage check', () => {
  it('shows each file exists with the size a buyer’s click downloads, audited, with no buyer JWT', async () => {
    const { keys, entitlementId } = await purchaseOwnProduct();
    const [check] = jsonOf<Check[]>(
      await ops(['downloads', 'check', entitlementId, ...as, '--json'], {
        PUBLIC_BASE_URL: stack.config.PUBLIC_BASE_URL,
      }),
    );
    expect(check).toEqual({
      entitlementId,
      status: 'pending_claim',
      files: [
        {
          format: 'pdf',
          key: keys[0],
          exists: true,
          download: { status: 200, bytes: 1000, error: null },
        },
        {
          format: 'epub',
          key: keys[1],
          exists: true,
          download: { status: 200, bytes: 1234, error: null },
        },
      ],
    });
    const size = (await stat(path.join(stack.config.STORAGE_LOCAL_DIR, keys[0]!))).size;
    expect(size).toBe(1000);
    // The test clicks went through the buyer's download path and were logged there.
    const clicks = await stack.db
      .selectFrom('download_events')
      .select(['format', 'outcome'])
      .where('entitlement_id', '=', entitlementId)
      .orderBy('format')
      .execute();
    expect(clicks).toEqual([
      { format: 'epub', outcome: 'issued' },
      { format: 'pdf', outcome: 'issued' },
    ]);
    const audit = await auditOf(stack, entitlementId);
    expect(audit.filter((a) => a.action === 'storage.checked').map((a) => a.actor)).toEqual([
      'dana',
    ]);
    // Its link is revoked once the check is done.
    const links = await stack.db
      .selectFrom('temporary_download_links')
      .select('revoked_at')
      .where('entitlement_id', '=', entitlementId)
      .execute();
    expect(links.map((l) => l.revoked_at !== null)).toEqual([true]);
  });

  it('names a missing file and its failed test download through the admin API', async () => {
    const { keys, entitlementId } = await purchaseOwnProduct();
    await rm(path.join(stack.config.STORAGE_LOCAL_DIR, keys[1]!));
    const response = await stack.app.inject({
      method: 'POST',
      url: `/admin/entitlements/${entitlementId}/storage-check`,
      headers: { authorization: `Bearer ${operators.support.token}` },
      payload: { reason: 'ticket 7002: epub fails' },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json<Check>().files).toEqual([
      expect.objectContaining({
        format: 'pdf',
        exists: true,
        download: { status: 200, bytes: 1000, error: null },
      }),
      expect.objectContaining({
        format: 'epub',
        exists: false,
        download: { status: 404, bytes: null, error: null },
      }),
    ]);
    const unknown = await stack.app.inject({
      method: 'POST',
      url: `/admin/entitlements/00000000-0000-4000-8000-000000000000/storage-check`,
      headers: { authorization: `Bearer ${operators.support.token}` },
      payload: { reason: 'ticket 7003' },
    });
    expect(unknown.statusCode).toBe(404);
  });
});
