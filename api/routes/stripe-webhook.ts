import type { AuditAction } from '../../db/audit-actions.ts';
import { createHash } from 'node:crypto';
import type { FastifyError, FastifyPluginAsync, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Db } from '../../db/database.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import type { EventDispatcher } from '../../gateway/dispatcher.ts';
import { recordStripeEvent } from '../../gateway/ingest.ts';
import { webhookProcessing } from '../../observability/metrics.ts';
import type { GatewayMetrics } from '../../observability/webhook-metrics.ts';
import { verifyStripeSignature } from '../../gateway/signature.ts';
import { isStorableText } from '../../db/storable.ts';

export interface StripeWebhookOptions {
  db: Db;
  secrets: string[];
  metrics: GatewayMetrics;
  bodyLimitBytes: number;
  /** Dispatches each newly recorded event right after the ack, in this process. */
  dispatcher: EventDispatcher;
  /** How long this process holds a recorded event for its own dispatch before a relay may. */
  dispatchLeaseSeconds: number;
}

/**
 * A text field of the envelope as it becomes a column: never a U+0000 (PostgreSQL text cannot
 * hold one) or a lone surrogate. Stripe's ids and type names are short ASCII.
 */
const envelopeText = z.string().min(1).max(255).refine(isStorableText, 'not storable text');

/** The envelope every Stripe event has; the object itself is checked per type later. */
const stripeEventEnvelope = z.object({
  id: envelopeText,
  type: envelopeText,
  // Seconds since 1970, within what PostgreSQL's timestamptz holds (up to year 9999).
  created: z.number().int().min(0).max(253_402_300_799),
  livemode: z.boolean(),
  api_version: envelopeText.nullish(),
  data: z.object({ object: z.record(z.string(), z.unknown()) }),
});

/** A short, stable label for a secret in metrics; it cannot be reversed into the secret. */
const fingerprint = (secret: string): string =>
  createHash('sha256').update(secret).digest('hex').slice(0, 8);

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text, and whether it was valid UTF-8 (if not, invalid bytes became U+FFFD). */
function decodeBody(rawBody: Buffer): { text: string; utf8: boolean } {
  try {
    return { text: strictUtf8.decode(rawBody), utf8: true };
  } catch {
    return { text: rawBody.toString('utf8'), utf8: false };
  }
}

/**
 * `POST /webhooks/stripe`: verify the signature over the raw body, record the event and its
 * audit row in one statement, answer 200 — nothing else is on the request path. The event's
 * workflow is started (or signalled) right after, off the request, by `dispatcher`; a relay in
 * every api process dispatches whatever that misses. A 5xx only when the write failed; a bad
 * request is a 4xx with an audit row. No rate limit here: a limit could only turn Stripe's own
 * deliveries away.
 */
export const registerStripeWebhookRoute: FastifyPluginAsync<StripeWebhookOptions> = async (
  app,
  { db, secrets, metrics, bodyLimitBytes, dispatcher, dispatchLeaseSeconds },
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

  const reject = async (
    request: FastifyRequest,
    action: AuditAction,
    reason: string,
    extra: Record<string, unknown> = {},
  ) => {
    await recordAudit(db, {
      actor: 'stripe',
      action,
      reason,
      detail: { ip: request.ip, userAgent: request.headers['user-agent'] ?? null, ...extra },
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

      const { text, utf8 } = decodeBody(rawBody);
      // Signed by Stripe but not an event we can key: kept, byte for byte, in the audit row
      // (as text where jsonb can hold it, so an erasure request finds addresses in it).
      const signedBody =
        utf8 && isStorableText(text)
          ? { rawBody: text }
          : { rawBodyBase64: rawBody.toString('base64') };
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        await reject(request, 'webhook.malformed', 'body is not JSON', signedBody);
        return reply.code(400).send({ error: 'body is not JSON' });
      }
      const envelope = stripeEventEnvelope.safeParse(json);
      if (!envelope.success) {
        const fields = envelope.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
        await reject(request, 'webhook.malformed', `invalid event fields: ${fields}`, signedBody);
        return reply.code(400).send({ error: `invalid Stripe event: ${fields}` });
      }

      const recorded = await recordStripeEvent(
        db,
        { rawBody, event: envelope.data, utf8 },
        {
          actor: 'stripe',
          requestId: request.id,
          leaseSeconds: dispatchLeaseSeconds,
          metrics,
        },
      );
      if (recorded.toDispatch) dispatcher.submit({ row: recorded.row, route: recorded.toDispatch });
      const { row } = recorded;
      return reply.code(200).send({
        received: true,
        duplicate: !recorded.inserted,
        eventId: row.event_id,
        result: row.result ?? 'pending',
        workflowId: row.workflow_id,
      });
    },
  );
};
