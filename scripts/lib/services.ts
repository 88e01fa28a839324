import type { ActivityDeps } from '../../activities/index.ts';
import { createEmailDriver } from '../../drivers/email/index.ts';
import { createLocalStorage, type StorageDriver } from '../../drivers/storage/driver.ts';
import { createSupabaseStorage } from '../../drivers/storage/supabase.ts';
import { createStripeClient } from '../../drivers/stripe.ts';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { DEMO_CATALOG } from '../../stack/demo-catalog.ts';
import { countProducts, productStoragePath, upsertProducts } from '../../db/queries/products.ts';

/** The activities' dependencies as the configuration describes them. */
/** How links and local storage URLs are signed, when secrets are configured. */
function linkSigning(config: Config) {
  return config.DOWNLOAD_TOKEN_SECRETS
    ? { publicBaseUrl: config.PUBLIC_BASE_URL, secrets: config.DOWNLOAD_TOKEN_SECRETS }
    : undefined;
}

/** The storage driver the configuration describes. */
export function createStorage(config: Config): StorageDriver {
  if (config.STORAGE_DRIVER === 'supabase') {
    return createSupabaseStorage({
      url: config.SUPABASE_URL!,
      serviceKey: config.SUPABASE_SERVICE_KEY!,
      bucket: config.SUPABASE_BUCKET,
    });
  }
  return createLocalStorage(config.STORAGE_LOCAL_DIR, linkSigning(config));
}

export function createActivityDeps(config: Config, db: Db): ActivityDeps {
  return {
    links: linkSigning(config),
    db,
    stripe: createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL),
    storage: createStorage(config),
    email: createEmailDriver(config),
    emailFrom: config.EMAIL_FROM,
    searchAttributeHashKey: config.SEARCH_ATTRIBUTE_HASH_KEY,
    alerts: {
      slackWebhookUrl: config.ALERT_SLACK_WEBHOOK_URL,
      webhookUrl: config.ALERT_WEBHOOK_URL,
    },
  };
}

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

/** Migrations, then the demo catalog when the catalog is empty (local use only). */
export async function prepareLocalDatabase(db: Db): Promise<{ seeded: boolean }> {
  await migrateToLatest(db);
  if ((await countProducts(db)) > 0) return { seeded: false };
  await upsertProducts(db, DEMO_CATALOG);
  return { seeded: true };
}
