import { createHash } from 'node:crypto';
import type { Client } from '@temporalio/client';
import rateLimit from '@fastify/rate-limit';
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import { ingestStripeEvent } from '../../gateway/ingest.ts';
import { webhookProcessing } from '../../observability/metrics.ts';
import type { GatewayMetrics } from '../../observability/webhook-metrics.ts';
import { verifyStripeSignature } from '../../gateway/signature.ts';

export interface StripeWebhookOptions {
  db: Db;
  temporal: Client;
  secrets: string[];
  metrics: GatewayMetrics;
  bodyLimitBytes: number;
  rateLimitPerMinute: number;
}

/** The envelope every Stripe event has; the object itself is checked per type later. */
const stripeEventEnvelope = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  created: z.number().int(),
  livemode: z.boolean(),
  api_version: z.string().nullish(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

/** A short, stable label for a secret in metrics; it cannot be reversed into the secret. */
const fingerprint = (secret: string): string =>
  createHash('sha256').update(secret).digest('hex').slice(0, 8);

/**
 * `POST /webhooks/stripe`: verify the signature over the raw body, record the event in the
 * inbox, start its workflow, answer 200. A bad request is a 4xx with an audit row and nothing
 * else recorded; a 5xx only when the event could not be recorded; 429 (Stripe retries) when
 * the rate limit is hit.
 */
export const registerStripeWebhookRoute: FastifyPluginAsync<StripeWebhookOptions> = async (
  app,
  { db, temporal, secrets, metrics, bodyLimitBytes, rateLimitPerMinute },
) => {
  const fingerprints = secrets.map(fingerprint);

  // The signature covers the exact bytes Stripe sent, so every body stays raw here.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(
    '*',
    { parseAs: 'buffer', bodyLimit: bodyLimitBytes },
    (_req, body, done) => {
      done(null, body);
    },
  );
  await app.register(rateLimit, { max: rateLimitPerMinute, timeWindow: '1 minute' });

  const reject = async (request: FastifyRequest, action: string, reason: string) => {
    await recordAudit(db, {
      actor: 'stripe',
      action,
      reason,
      detail: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null },
      requestId: request.id,
    });
    request.log.warn({ action, reason }, 'stripe webhook rejected');
  };

  // A 5xx means nothing was recorded: a failed processing attempt (Stripe retries it).
  app.addHook('onResponse', async (_request, reply) => {
    if (reply.statusCode >= 500)
      webhookProcessing.inc({ provider: 'stripe', outcome: 'not_recorded' });
  });

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      await reject(request, 'webhook.too_large', `body over ${bodyLimitBytes} bytes`);
      return reply.code(413).send({ error: `body exceeds ${bodyLimitBytes} bytes` });
    }
    throw error;
  });

  app.post(
    '/webhooks/stripe',
    async (request: FastifyRequest<{ Body: Buffer | undefined }>, reply) => {
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const header = request.headers['stripe-signature'];
      const check = verifyStripeSignature(
        rawBody,
        typeof header === 'string' ? header : undefined,
        secrets,
      );
      metrics.verifications.inc(
        check.ok
          ? {
              secret_index: String(check.secretIndex),
              secret_fingerprint: fingerprints[check.secretIndex],
              outcome: 'verified',
            }
          : { secret_index: 'none', secret_fingerprint: 'none', outcome: check.reason },
      );
      if (!check.ok) {
        const action =
          check.reason === 'missing_header'
            ? 'webhook.missing_signature'
            : 'webhook.invalid_signature';
        await reject(request, action, check.reason);
        return reply
          .code(400)
          .send({ error: `invalid Stripe-Signature: ${check.reason.replaceAll('_', ' ')}` });
      }

      let json: unknown;
      try {
        json = JSON.parse(rawBody.toString('utf8'));
      } catch {
        await reject(request, 'webhook.malformed', 'body is not JSON');
        return reply.code(400).send({ error: 'body is not JSON' });
      }
      const envelope = stripeEventEnvelope.safeParse(json);
      if (!envelope.success) {
        const fields = envelope.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
        await reject(request, 'webhook.malformed', `invalid event fields: ${fields}`);
        return reply.code(400).send({ error: `invalid Stripe event: ${fields}` });
      }

      const outcome = await ingestStripeEvent(
        { db, temporal, metrics },
        envelope.data,
        rawBody.toString('utf8'),
        { actor: 'stripe', requestId: request.id },
      );
      if (outcome.error && outcome.result === null) {
        // Recorded but not dispatched: the relay starts the workflow once Temporal answers.
        request.log.warn(
          { eventId: envelope.data.id },
          'temporal unavailable; event left to the relay',
        );
      }
      return reply.code(200).send({
        received: true,
        duplicate: !outcome.inserted,
        result: outcome.result ?? 'pending',
        workflowId: outcome.workflowId,
      });
    },
  );
};
