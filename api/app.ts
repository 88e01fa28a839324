import type { Client } from '@temporalio/client';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { checkStripeEventGaps } from '../gateway/gap-check.ts';
import { createGatewayMetrics } from '../gateway/metrics.ts';
import { startWebhookRelay } from '../gateway/relay.ts';
import { createJwtAuthenticator, type JwtAuthOptions } from './auth.ts';
import { openApiDocument } from './openapi.ts';
import { registerDevOutboxRoutes } from './routes/dev-outbox.ts';
import { registerStorefrontRoutes } from './routes/storefront.ts';
import { registerDownloadRoutes, type DownloadRoutesOptions } from './routes/downloads.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerResendWebhookRoute } from './routes/resend-webhook.ts';
import { registerRewardRoutes } from './routes/rewards.ts';
import type { AlertSinks } from '../activities/alerts.ts';
import { registerStripeWebhookRoute } from './routes/stripe-webhook.ts';
import type { ServiceToken } from './service-tokens.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** `METHOD /path/{param}` for every route, in registration order. */
    registeredRoutes: string[];
  }
}

export interface AppDeps {
  db: Db;
  temporal: Client;
  stripe: Stripe;
  stripeWebhookSecrets: string[];
  webhook?: {
    bodyLimitBytes?: number;
    rateLimitPerMinute?: number;
  };
  /** Run the relay for recorded-but-undispatched events every `intervalMs` (off when omitted). */
  relay?: { intervalMs: number };
  /** Compare the inbox with Stripe's Events API every `intervalMs` over `windowMs` (off when omitted). */
  gapCheck?: { intervalMs: number; windowMs: number };
  /** Svix signing secret of the Resend webhook endpoint (POST /webhooks/resend). */
  resendWebhookSecret?: string | undefined;
  /** Where alerts raised by the api (a bounced receipt) go besides the table and the log. */
  alertSinks?: AlertSinks;
  /** Download links: the storage to redirect to and the secrets that sign the links. */
  downloads?: Omit<DownloadRoutesOptions, 'db'>;
  /** The storefront API (/v1/entitlements, /v1/claims): how end-user JWTs are checked. */
  auth?: JwtAuthOptions;
  /** The api's public base URL, for the OpenAPI document's server entry. */
  publicBaseUrl?: string;
  /** Who may call the service endpoints (rewards); none configured: they answer 401. */
  serviceTokens?: readonly ServiceToken[];
  /** Serve /dev/outbox (only with the outbox email driver, never in production). */
  devOutbox: boolean;
  logger?: FastifyServerOptions['logger'];
}

/** Log settings: never a secret, a signature or a payload body in a log line. */
export const loggerOptions = (level: string) => ({
  level,
  redact: {
    paths: ['req.headers.authorization', 'req.headers["stripe-signature"]', 'req.headers.cookie'],
    censor: '[redacted]',
  },
});

/** Builds the api without listening: tests call `app.inject`, scripts/api.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    // Everything but the webhook is small JSON; the webhook route sets its own limit.
    bodyLimit: 64 * 1024,
    requestIdHeader: 'x-request-id',
    // Signed storage URLs carry their key in the path.
    routerOptions: { maxParamLength: 1024 },
  });

  // The routes as registered, so a test can hold the OpenAPI document to all of them.
  const registeredRoutes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD')
        registeredRoutes.push(`${method} ${route.url.replaceAll(/:(\w+)/g, '{$1}')}`);
    }
  });
  app.decorate('registeredRoutes', registeredRoutes);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const statusCode = error.statusCode ?? 500;
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(statusCode).send({ error: 'internal error', requestId: request.id });
    }
    return reply.code(statusCode).send({ error: error.message });
  });

  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gatewayMetrics = createGatewayMetrics(registry);
  app.get('/metrics', async (_request, reply) =>
    reply.type(registry.contentType).send(await registry.metrics()),
  );

  const docs = openApiDocument(deps.publicBaseUrl ?? 'http://localhost:3000');
  app.get('/docs', () => docs);
  await app.register(registerHealthRoutes, { db: deps.db, temporal: deps.temporal });
  await app.register(registerStripeWebhookRoute, {
    db: deps.db,
    temporal: deps.temporal,
    secrets: deps.stripeWebhookSecrets,
    metrics: gatewayMetrics,
    // Stripe events are a few kB; 512 KiB admits the largest expanded objects and still
    // bounds memory per request.
    bodyLimitBytes: deps.webhook?.bodyLimitBytes ?? 512 * 1024,
    // Far above Stripe's delivery rate for one account; a flood gets 429 and Stripe retries.
    rateLimitPerMinute: deps.webhook?.rateLimitPerMinute ?? 6_000,
  });
  await app.register(registerResendWebhookRoute, {
    db: deps.db,
    secret: deps.resendWebhookSecret,
    alerts: deps.alertSinks ?? {},
  });
  if (deps.downloads)
    await app.register(registerDownloadRoutes, { db: deps.db, ...deps.downloads });
  if (deps.auth && deps.downloads) {
    await app.register(registerStorefrontRoutes, {
      db: deps.db,
      temporal: deps.temporal,
      storage: deps.downloads.storage,
      authenticate: createJwtAuthenticator(deps.auth),
    });
  }
  await app.register(registerRewardRoutes, {
    db: deps.db,
    temporal: deps.temporal,
    tokens: deps.serviceTokens ?? [],
  });
  if (deps.devOutbox) await app.register(registerDevOutboxRoutes, { db: deps.db });

  if (deps.relay) {
    const relay = startWebhookRelay(deps.db, deps.temporal, {
      intervalMs: deps.relay.intervalMs,
      logger: app.log,
    });
    app.addHook('onClose', () => relay.stop());
  }
  if (deps.gapCheck) {
    const { intervalMs, windowMs } = deps.gapCheck;
    const ingestDeps = {
      db: deps.db,
      temporal: deps.temporal,
      stripe: deps.stripe,
      metrics: gatewayMetrics,
    };
    const timer = setInterval(() => {
      checkStripeEventGaps(ingestDeps, { since: new Date(Date.now() - windowMs) }).then(
        (result) => {
          if (result.redriven.length > 0)
            app.log.warn(result, 'gap check re-drove missed Stripe events');
        },
        (error: unknown) => app.log.warn({ err: error }, 'gap check failed'),
      );
    }, intervalMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
  return app;
}
