import type { ActivityDeps } from '../../activities/index.ts';
import { createOutboxDriver } from '../../activities/email/driver.ts';
import { createStripeClient } from '../../activities/stripe-client.ts';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { migrateToLatest } from '../../db/migrate.ts';
import { DEMO_CATALOG } from '../../db/demo-catalog.ts';
import { countProducts, upsertProducts } from '../../db/queries/products.ts';

/** The activities' dependencies as the configuration describes them. */
export function createActivityDeps(config: Config, db: Db): ActivityDeps {
  return {
    db,
    stripe: createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL),
    email: createOutboxDriver(),
    emailFrom: config.EMAIL_FROM,
  };
}

/** Migrations, then the demo catalog when the catalog is empty (local use only). */
export async function prepareLocalDatabase(db: Db): Promise<{ seeded: boolean }> {
  await migrateToLatest(db);
  if ((await countProducts(db)) > 0) return { seeded: false };
  await upsertProducts(db, DEMO_CATALOG);
  return { seeded: true };
}
