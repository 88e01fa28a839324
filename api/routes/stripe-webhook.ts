import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import Stripe from 'stripe';
import type { Db } from '../../db/database.ts';
import {
  markWebhookEventDispatched,
  markWebhookEventResult,
  recordWebhookEvent,
} from '../../db/queries/webhook-events.ts';
import { startFulfillment } from '../../temporal/client.ts';

/** Stripe's own default: a signature older than five minutes is a replay, not a delivery. */
const SIGNATURE_TOLERANCE_SECONDS = 300;

export interface StripeWebhookOptions {
  db: Db;
  temporal: Client;
  secrets: string[];
}

/**
 * Checks the signature over the raw body against every configured secret (old and new during
 * a rotation). Returns the event, or null when no secret verifies it.
 */
export function verifyStripeEvent(
  rawBody: Buffer,
  signature: string,
  secrets: string[],
): Stripe.Event | null {
  for (const secret of secrets) {
    try {
      return Stripe.webhooks.constructEvent(
        rawBody,
        signature,
        secret,
        SIGNATURE_TOLERANCE_SECONDS,
      );
    } catch (error) {
      if (!(error instanceof Stripe.errors.StripeSignatureVerificationError)) throw error;
    }
  }
  return null;
}

/**
 * `POST /webhooks/stripe`: verify, record in the inbox, start the workflow, then acknowledge.
 * A 2xx means the event is durably recorded and dispatched; anything else makes Stripe retry.
 */
export const registerStripeWebhookRoute: FastifyPluginAsync<StripeWebhookOptions> = async (
  app,
  { db, temporal, secrets },
) => {
  // The signature covers the exact bytes Stripe sent, so this route keeps the body raw.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });

  app.post('/webhooks/stripe', async (request: FastifyRequest<{ Body: Buffer }>, reply) => {
    const signature = request.headers['stripe-signature'];
    if (typeof signature !== 'string' || !Buffer.isBuffer(request.body)) {
      return reply.code(400).send({ error: 'missing Stripe-Signature header or JSON body' });
    }
    const event = verifyStripeEvent(request.body, signature, secrets);
    if (!event) {
      request.log.warn('stripe webhook rejected: invalid signature');
      return reply.code(400).send({ error: 'invalid signature' });
    }

    const { event: row, inserted } = await recordWebhookEvent(db, {
      provider: 'stripe',
      event_id: event.id,
      type: event.type,
      api_version: event.api_version ?? null,
      livemode: event.livemode,
      event_created_at: new Date(event.created * 1000),
      payload: request.body.toString('utf8'),
      dispatched_at: null,
      processed_at: null,
      result: null,
      error: null,
      workflow_id: null,
    });
    request.log.info({ eventId: event.id, type: event.type, inserted }, 'stripe event recorded');

    if (event.type !== 'payment_intent.succeeded') {
      if (inserted) await markWebhookEventResult(db, row.id, 'ignored');
      return reply.code(200).send({ received: true, result: 'ignored' });
    }
    if (row.dispatched_at) {
      return reply.code(200).send({ received: true, result: 'duplicate' });
    }
    // Starting is idempotent on the workflow id, so concurrent duplicates may all try.
    const workflowId = await startFulfillment(temporal, {
      source: 'stripe',
      paymentIntentId: event.data.object.id,
      stripeEventId: event.id,
    });
    await markWebhookEventDispatched(db, row.id, workflowId);
    return reply.code(200).send({ received: true, result: 'processed', workflowId });
  });
};
