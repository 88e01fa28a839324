import type { Client } from '@temporalio/client';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { processRegistry } from '../observability/metrics.ts';
import { createHttpMetrics } from '../observability/http-metrics.ts';
import type { AnalyticsSink } from '../drivers/analytics/index.ts';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { createEventDispatcher, type EventDispatcher } from '../gateway/dispatcher.ts';
import { createGatewayMetrics } from '../observability/webhook-metrics.ts';
import { startWebhookRelay } from '../gateway/relay.ts';
import { createJwtAuthenticator, type JwtAuthOptions } from './auth.ts';
import { registerDocs } from './docs.ts';
import { openApiDocument } from './openapi.ts';
import { registerAdminRoutes, type AdminRoutesOptions } from './routes/admin.ts';
import { registerConsole } from './console/plugin.ts';
import { createConsoleSignIn, type ConsoleOidcOptions } from './console/sign-in.ts';
import { registerDevOutboxRoutes } from './routes/dev-outbox.ts';
import { registerStorefrontRoutes } from './routes/storefront.ts';
import { registerDownloadRoutes, type DownloadRoutesOptions } from './routes/downloads.ts';
import { registerHealthRoutes } from './routes/health.ts';
import type { TemporalHealth } from '../temporal/connection-check.ts';
import { registerCodecRoutes, type CodecRoutesOptions } from './routes/codec.ts';
import { trackDrain } from './drain.ts';
import { registerResendWebhookRoute } from './routes/resend-webhook.ts';
import { registerRewardRoutes } from './routes/rewards.ts';
import type { AlertSinks } from '../support/alerts.ts';
import { registerStripeWebhookRoute } from './routes/stripe-webhook.ts';
import {
  fastifyTrustProxy,
  installSecurity,
  redactUrl,
  serializeErrorForLog,
  type SecurityOptions,
} from './hardening.ts';
import type { ServiceToken } from './service-tokens.ts';
import { installRequestTelemetry } from './telemetry.ts';
import { traceLogFields } from '../observability/tracing.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** `METHOD /path/{param}` for every route, in registration order. */
    registeredRoutes: string[];
    /** Dispatches recorded Stripe events right after their ack (`idle()` for tests). */
    webhookDispatcher: EventDispatcher;
  }
}

export interface AppDeps {
  db: Db;
  temporal: Client;
  /** What the process's Temporal monitor last saw, for /readyz (scripts/api.ts). */
  temporalHealth?: () => TemporalHealth;
  stripe: Stripe;
  stripeWebhookSecrets: string[];
  webhook?: {
    bodyLimitBytes?: number;
    /** Dispatches in flight at once, right after the ack and in the relay (each). */
    dispatchConcurrency?: number;
    /** How long this process holds a recorded event for its own dispatch before a relay may. */
    dispatchLeaseSeconds?: number;
  };
  /**
   * The relay: claims recorded events nobody dispatched (a crash, a Temporal outage) every
   * `intervalMs`. Off when omitted (tests drive it themselves).
   */
  relay?: { intervalMs: number; batchSize?: number };
  /** Svix signing secret of the Resend webhook endpoint (POST /webhooks/resend). */
  resendWebhookSecret?: string | undefined;
  /** Where alerts raised by the api (a bounced receipt) go besides the table and the log. */
  alertSinks?: AlertSinks;
  /** Where analytics events the api records go (`entitlement.download`); the table by default. */
  analytics?: AnalyticsSink;
  /** Download links: the storage to redirect to and the secrets that sign the links. */
  downloads?: Omit<DownloadRoutesOptions, 'db'>;
  /** The storefront API (/v1/entitlements, /v1/claims): how end-user JWTs are checked. */
  auth?: JwtAuthOptions;
  /** The api's public base URL, for the OpenAPI document's server entry. */
  publicBaseUrl?: string;
  /** Who may call the service endpoints (rewards); none configured: they answer 401. */
  serviceTokens?: readonly ServiceToken[];
  /**
   * The admin API (/admin/…): operator tokens, the Temporal UI for deep links and the storage
   * the catalog import checks. Omitted: no /admin routes.
   */
  admin?: Pick<AdminRoutesOptions, 'tokens'> &
    Pick<AdminRoutesOptions['operations'], 'temporalUi' | 'storage' | 'emailHashKey' | 'links'> & {
      /** STORE_CURRENCY, for GET /admin/preflight (default usd). */
      storeCurrency?: string | undefined;
    };
  /**
   * The support console (/console): its OpenID Connect client and session keys. Needs `admin`
   * (its Temporal UI, storage and download-link keys). Omitted: no console.
   */
  console?: { oidc: ConsoleOidcOptions; sessionSecrets: readonly string[] } | undefined;
  /** POST /codec/decode|encode for the Temporal Web UI and CLI. Omitted: no codec routes. */
  codec?: CodecRoutesOptions;
  /** Serve /dev/outbox (only with the outbox email driver, never in production). */
  devOutbox: boolean;
  /** Security headers, CORS origins and API rate limits; omitted: no CORS origin, 120/min. */
  security?: Partial<SecurityOptions>;
  logger?: FastifyServerOptions['logger'];
}

/**
 * Log settings: never a secret, a signature, a token or an email address in a log line. URLs
 * are logged with their download/claim tokens and email addresses replaced (`redactUrl`).
 */
export const loggerOptions = (level: string) => ({
  level,
  // With tracing on, a request's log lines carry its trace id (search it in Jaeger / Tempo).
  mixin: traceLogFields,
  redact: {
    paths: [
      'req.headers.authorization',
      'req.headers["stripe-signature"]',
      'req.headers["svix-signature"]',
      'req.headers.cookie',
      'res.headers["set-cookie"]',
      'email',
      '*.email',
      'token',
      '*.token',
      'secret',
      '*.secret',
    ],
    censor: '[redacted]',
  },
  serializers: {
    req: (request: { method: string; url: string; ip?: string; id?: string }) => ({
      method: request.method,
      url: redactUrl(request.url),
      remoteAddress: request.ip,
    }),
    err: serializeErrorForLog,
  },
});

/** The methods the routes serve at `url`'s path (with HEAD for GET), from `registeredRoutes`. */
export function methodsServedAt(routes: readonly string[], url: string): string[] {
  const path = url.split('?', 1)[0] ?? '';
  const methods = new Set<string>();
  for (const route of routes) {
    const [method = '', template = ''] = route.split(' ', 2);
    const pattern = new RegExp(
      `^${template.replaceAll(/[.*+?^$()|[\]\\]/g, '\\$&').replaceAll(/\{\w+\}/g, '[^/]+')}$`,
    );
    if (pattern.test(path)) {
      methods.add(method);
      if (method === 'GET') methods.add('HEAD');
    }
  }
  return [...methods];
}

/** Builds the api without listening: tests call `app.inject`, scripts/api.ts listens. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    // Everything but the webhook is small JSON; the webhook route sets its own limit.
    bodyLimit: 64 * 1024,
    requestIdHeader: 'x-request-id',
    // Signed storage URLs carry their key in the path.
    routerOptions: { maxParamLength: 1024 },
    // On close, drop idle keep-alive sockets at once instead of waiting out their timeout;
    // requests arriving on a socket while closing get 503 (closeGracefully drains first).
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    // Per-address rate limits and download logs need the client's address, not the proxy's.
    trustProxy: fastifyTrustProxy(deps.security?.trustProxy),
  });
  const drain = trackDrain(app);

  // This app's own metrics (HTTP per route, the gateway's); what the process counted elsewhere
  // (webhook processing, downloads, email events) is in processRegistry. The job gauges read
  // from Postgres are the worker's alone (fulfillment_jobs_active); the inbox's
  // webhook_events_undispatched is the api's (its relay's backlog; rules take the max).
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const gatewayMetrics = createGatewayMetrics(registry, deps.db);
  // Before any route: every route gets its request metrics and server span.
  installRequestTelemetry(app, createHttpMetrics(registry));

  await installSecurity(app, {
    corsOrigins: deps.security?.corsOrigins ?? [],
    production: deps.security?.production ?? false,
    // A storefront page makes a few calls per view; 120 a minute per user is generous for people.
    apiRateLimitPerMinute: deps.security?.apiRateLimitPerMinute ?? 120,
    db: deps.db,
    ...(deps.security?.rateLimitScope ? { rateLimitScope: deps.security.rateLimitScope } : {}),
  });

  // The routes as registered, so a test can hold the OpenAPI document to all of them.
  const registeredRoutes: string[] = [];
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      // HEAD mirrors GET; OPTIONS answers CORS preflights, not an operation of its own.
      if (method !== 'HEAD' && method !== 'OPTIONS')
        registeredRoutes.push(`${method} ${route.url.replaceAll(/:(\w+)/g, '{$1}')}`);
    }
  });
  app.decorate('registeredRoutes', registeredRoutes);

  // A known path asked with a method it does not serve: 405 naming the ones it does (RFC 9110
  // §15.5.6), not a 404 that reads as "no such path".
  app.setNotFoundHandler((request, reply) => {
    const allowed = methodsServedAt(registeredRoutes, request.url);
    if (allowed.length === 0)
      return reply.code(404).send({
        error: `no route ${request.method} ${redactUrl(request.url.split('?', 1)[0] ?? '')}`,
      });
    return reply
      .code(405)
      .header('allow', allowed.join(', '))
      .send({ error: `method ${request.method} is not allowed here; use ${allowed.join(', ')}` });
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const statusCode = error.statusCode ?? 500;
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(statusCode).send({ error: 'internal error', requestId: request.id });
    }
    return reply.code(statusCode).send({ error: error.message });
  });

  app.get('/metrics', async (_request, reply) =>
    reply
      .type(registry.contentType)
      .send(`${await registry.metrics()}\n${await processRegistry.metrics()}`),
  );

  await app.register(registerDocs, {
    document: openApiDocument(deps.publicBaseUrl ?? 'http://localhost:3000'),
  });
  await app.register(registerHealthRoutes, {
    db: deps.db,
    temporal: deps.temporal,
    temporalHealth: deps.temporalHealth,
    drain,
  });
  if (deps.codec) await app.register(registerCodecRoutes, deps.codec);
  const webhook = {
    // Temporal starts take a few ms each: a few dozen in flight keep up with any Stripe account.
    dispatchConcurrency: deps.webhook?.dispatchConcurrency ?? 16,
    // Far beyond one dispatch (Temporal's 5 s deadline): the relay never races a live dispatch.
    dispatchLeaseSeconds: deps.webhook?.dispatchLeaseSeconds ?? 30,
  };
  const dispatcher = createEventDispatcher(deps.db, deps.temporal, {
    concurrency: webhook.dispatchConcurrency,
    // A burst beyond this waits in the inbox for the relay rather than in memory.
    maxQueued: 10_000,
    leaseSeconds: webhook.dispatchLeaseSeconds,
    log: (level, msg, fields) => app.log[level](fields, msg),
    metrics: gatewayMetrics,
  });
  app.decorate('webhookDispatcher', dispatcher);
  await app.register(registerStripeWebhookRoute, {
    db: deps.db,
    secrets: deps.stripeWebhookSecrets,
    metrics: gatewayMetrics,
    // Stripe events are a few kB; 512 KiB admits the largest expanded objects and still
    // bounds memory per request.
    bodyLimitBytes: deps.webhook?.bodyLimitBytes ?? 512 * 1024,
    dispatcher,
    dispatchLeaseSeconds: webhook.dispatchLeaseSeconds,
  });
  await app.register(registerResendWebhookRoute, {
    db: deps.db,
    secret: deps.resendWebhookSecret,
    alerts: deps.alertSinks ?? {},
  });
  if (deps.downloads)
    await app.register(registerDownloadRoutes, {
      db: deps.db,
      ...deps.downloads,
      analytics: deps.analytics,
      ...(deps.security?.rateLimitScope ? { rateLimitScope: deps.security.rateLimitScope } : {}),
    });
  if (deps.auth && deps.downloads) {
    await app.register(registerStorefrontRoutes, {
      db: deps.db,
      temporal: deps.temporal,
      storage: deps.downloads.storage,
      authenticate: createJwtAuthenticator(deps.auth),
      analytics: deps.analytics,
    });
  }
  await app.register(registerRewardRoutes, {
    db: deps.db,
    temporal: deps.temporal,
    tokens: deps.serviceTokens ?? [],
  });
  if (deps.admin) {
    const { tokens, storeCurrency, ...services } = deps.admin;
    await app.register(registerAdminRoutes, {
      tokens,
      operations: { db: deps.db, temporal: deps.temporal, ...services },
      reconciliation: { stripe: deps.stripe, sinks: deps.alertSinks ?? {} },
      preflight: {
        stripe: deps.stripe,
        publicBaseUrl: deps.publicBaseUrl ?? 'http://localhost:3000',
        webhookSecrets: deps.stripeWebhookSecrets,
        currency: storeCurrency ?? 'usd',
      },
    });
  }
  if (deps.console && deps.admin) {
    const { temporalUi, storage, emailHashKey, links } = deps.admin;
    await app.register(registerConsole, {
      operations: {
        db: deps.db,
        temporal: deps.temporal,
        temporalUi,
        storage,
        emailHashKey,
        links,
      },
      alertSinks: deps.alertSinks ?? {},
      signIn: createConsoleSignIn(deps.console.oidc),
      sessionSecrets: deps.console.sessionSecrets,
      issuerName: new URL(deps.console.oidc.issuer).host,
    });
  }
  if (deps.devOutbox) await app.register(registerDevOutboxRoutes, { db: deps.db });

  if (deps.relay) {
    const relay = startWebhookRelay(deps.db, deps.temporal, {
      intervalMs: deps.relay.intervalMs,
      batchSize: deps.relay.batchSize ?? 100,
      concurrency: webhook.dispatchConcurrency,
      leaseSeconds: webhook.dispatchLeaseSeconds,
      log: (level, msg, fields) => app.log[level](fields, msg),
      metrics: gatewayMetrics,
    });
    app.addHook('onClose', () => relay.stop());
  }
  // After the server stopped taking requests: running dispatches finish, queued ones go back
  // to the relay.
  app.addHook('onClose', () => dispatcher.close());
  return app;
}
