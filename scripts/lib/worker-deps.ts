import type { ActivityDeps } from '../../activities/index.ts';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { createEmailDriver } from '../../drivers/email/index.ts';
import { createStripeClient } from '../../drivers/stripe.ts';
import { createAnalyticsSink } from '../../drivers/analytics/index.ts';
import { alertSinksFromConfig } from '../../drivers/alert-sinks.ts';
import { createStorage, linkSigning } from './services.ts';

/** The activities' dependencies as the configuration describes them (the worker's wiring). */
export function createActivityDeps(config: Config, db: Db): ActivityDeps {
  return {
    links: linkSigning(config),
    db,
    stripe: createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL),
    stripeLookupWindowSeconds: config.STRIPE_LOOKUP_WINDOW_SECONDS,
    storage: createStorage(config),
    email: createEmailDriver(config),
    emailFrom: config.EMAIL_FROM,
    searchAttributeHashKey: config.SEARCH_ATTRIBUTE_HASH_KEY,
    analytics: createAnalyticsSink(config),
    alerts: alertSinksFromConfig(config),
  };
}
