import { readFileSync } from 'node:fs';
import type { JSONWebKeySet } from 'jose';
import type { Client } from '@temporalio/client';
import { loggerOptions, type AppDeps } from '../../api/app.ts';
import { createStripeClient } from '../../drivers/stripe.ts';
import { alertSinksFromConfig } from '../../drivers/alert-sinks.ts';
import { createAnalyticsSink } from '../../drivers/analytics/index.ts';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { EncryptionCodec } from '../../security/payload-codec.ts';
import { createStorage } from './services.ts';

/** The api's dependencies and settings as the configuration describes them. */
export function appDepsFromConfig(config: Config, db: Db, temporal: Client): AppDeps {
  return {
    db,
    temporal,
    stripe: createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL),
    stripeWebhookSecrets: config.STRIPE_WEBHOOK_SECRETS,
    serviceTokens: config.SERVICE_TOKENS ?? [],
    admin: {
      tokens: config.OPERATOR_TOKENS ?? [],
      temporalUi: { baseUrl: config.TEMPORAL_UI_URL, namespace: config.TEMPORAL_NAMESPACE },
      emailHashKey: config.SEARCH_ATTRIBUTE_HASH_KEY,
      storage: createStorage(config),
      storeCurrency: config.STORE_CURRENCY,
      links: config.DOWNLOAD_TOKEN_SECRETS
        ? { publicBaseUrl: config.PUBLIC_BASE_URL, secrets: config.DOWNLOAD_TOKEN_SECRETS }
        : undefined,
    },
    ...(config.CONSOLE_OIDC_ISSUER
      ? {
          console: {
            oidc: {
              issuer: config.CONSOLE_OIDC_ISSUER,
              clientId: config.CONSOLE_OIDC_CLIENT_ID!,
              clientSecret: config.CONSOLE_OIDC_CLIENT_SECRET,
              rolesClaim: config.CONSOLE_ROLES_CLAIM,
              roleMapping: config.CONSOLE_ROLE_MAPPING ?? [],
              redirectUri: `${config.PUBLIC_BASE_URL.replace(/\/$/, '')}/console/auth/callback`,
            },
            sessionSecrets: config.CONSOLE_SESSION_SECRETS!,
          },
        }
      : {}),
    codec: {
      codec: config.PAYLOAD_ENCRYPTION_KEYS
        ? new EncryptionCodec(config.PAYLOAD_ENCRYPTION_KEYS)
        : null,
      namespace: config.TEMPORAL_NAMESPACE,
      operatorTokens: config.OPERATOR_TOKENS ?? [],
      allowedOrigins: config.CODEC_CORS_ORIGINS,
      allowAnonymousFromAllowedOrigins: config.CODEC_ALLOW_ANONYMOUS,
    },
    publicBaseUrl: config.PUBLIC_BASE_URL,
    analytics: createAnalyticsSink(config),
    resendWebhookSecret: config.RESEND_WEBHOOK_SECRET,
    ...(config.AUTH_JWKS_URL || config.AUTH_JWKS_FILE
      ? {
          auth: {
            jwks: config.AUTH_JWKS_URL
              ? new URL(config.AUTH_JWKS_URL)
              : (JSON.parse(readFileSync(config.AUTH_JWKS_FILE!, 'utf8')) as JSONWebKeySet),
            issuer: config.AUTH_ISSUER,
            audience: config.AUTH_AUDIENCE,
          },
        }
      : {}),
    downloads: {
      storage: createStorage(config),
      secrets: config.DOWNLOAD_TOKEN_SECRETS ?? null,
      storefrontUrl: config.STOREFRONT_URL,
      localRoot: config.STORAGE_DRIVER === 'local' ? config.STORAGE_LOCAL_DIR : null,
      // A buyer clicks a few links a minute; 60 per address stops scraping, not people.
      rateLimitPerMinute: 60,
    },
    alertSinks: alertSinksFromConfig(config),
    webhook: {
      bodyLimitBytes: config.WEBHOOK_BODY_LIMIT_BYTES,
      dispatchConcurrency: config.WEBHOOK_DISPATCH_CONCURRENCY,
      dispatchLeaseSeconds: config.WEBHOOK_DISPATCH_LEASE_SECONDS,
    },
    relay: { intervalMs: config.WEBHOOK_RELAY_INTERVAL_SECONDS * 1000 },
    devOutbox: config.EMAIL_DRIVER === 'outbox' && config.NODE_ENV !== 'production',
    security: {
      corsOrigins: (config.STOREFRONT_ORIGINS ?? [config.STOREFRONT_URL]).map(
        (url) => new URL(url).origin,
      ),
      production: config.NODE_ENV === 'production',
      apiRateLimitPerMinute: config.API_RATE_LIMIT_PER_MINUTE,
      trustProxy: config.TRUST_PROXY,
    },
    logger: loggerOptions(config.LOG_LEVEL),
  };
}
