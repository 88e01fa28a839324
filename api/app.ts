import type { Client } from '@temporalio/client';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyServerOptions,
} from 'fastify';
import type { Db } from '../db/database.ts';
import { registerDevOutboxRoutes } from './routes/dev-outbox.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerStripeWebhookRoute } from './routes/stripe-webhook.ts';

export interface AppDeps {
  db: Db;
  temporal: Client;
  stripeWebhookSecrets: string[];
  /** Serve /dev/outbox (only with the outbox email driver). */
  devOutbox: boolean;
  logger?: FastifyServerOptions['logger'];
}

/** Log settings: never a secret, a signature or a payload body in a log line. */
export const loggerOptions = (level: string): FastifyServerOptions['logger'] => ({
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
    // Stripe events are a few kB; 1 MiB is generous and still bounds memory per request.
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const statusCode = error.statusCode ?? 500;
    if (statusCode >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply.code(statusCode).send({ error: 'internal error', requestId: request.id });
    }
    return reply.code(statusCode).send({ error: error.message });
  });

  await app.register(registerHealthRoutes, { db: deps.db, temporal: deps.temporal });
  await app.register(registerStripeWebhookRoute, {
    db: deps.db,
    temporal: deps.temporal,
    secrets: deps.stripeWebhookSecrets,
  });
  if (deps.devOutbox) await app.register(registerDevOutboxRoutes, { db: deps.db });
  return app;
}
