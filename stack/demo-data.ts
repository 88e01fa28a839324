import type { Db } from '../db/database.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { countProducts, productStoragePath, upsertProducts } from '../db/queries/products.ts';
import { createLocalStorage, type StorageDriver } from '../drivers/storage/driver.ts';
import { makeScratchDir, type Cleanups } from './cleanups.ts';
import { DEMO_CATALOG } from './demo-catalog.ts';

/**
 * Placeholder files for the demo catalog, so a local purchase passes the storage check.
 * Existing files are left alone.
 */
export async function seedDemoAssets(storage: StorageDriver): Promise<number> {
  let written = 0;
  for (const product of DEMO_CATALOG) {
    for (const format of product.formats) {
      const key = productStoragePath(product, format);
      if (await storage.exists(key)) continue;
      await storage.put(
        key,
        new TextEncoder().encode(`${product.title} (${format.toUpperCase()}, demo file)\n`),
      );
      written += 1;
    }
  }
  return written;
}

/** A new local-storage folder holding the demo files (STORAGE_LOCAL_DIR), removed by `cleanups`. */
export async function createDemoStorageDir(cleanups: Cleanups, prefix: string): Promise<string> {
  const dir = await makeScratchDir(cleanups, prefix);
  await seedDemoAssets(createLocalStorage(dir));
  return dir;
}

/** Migrations, then the demo catalog when the catalog is empty (local use only). */
export async function prepareLocalDatabase(db: Db): Promise<{ seeded: boolean }> {
  await migrateToLatest(db);
  if ((await countProducts(db)) > 0) return { seeded: false };
  await upsertProducts(db, DEMO_CATALOG);
  return { seeded: true };
}
