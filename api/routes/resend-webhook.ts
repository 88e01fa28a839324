import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { Resend } from 'resend';
import { z } from 'zod';
import { raiseAlert, type AlertSinks } from '../../support/alerts.ts';
import type { Db } from '../../db/database.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import {
  advanceEmailDeliveryStatus,
  flagReceiptBounceOnJob,
} from '../../db/queries/email-events.ts';
import { recordWebhookEvent } from '../../db/queries/webhook-events.ts';
import { emailDeliveryEvents } from '../../observability/metrics.ts';
import type { EmailDeliveryStatus } from '../../db/tables/email-deliveries.ts';
import { isStorableText, jsonbCanHold } from '../../db/storable.ts';

/** What each Resend event says about a delivery; other event types are recorded and ignored. */
const STATUS_BY_EVENT: Record<string, EmailDeliveryStatus> = {
  'email.delivered': 'delivered',
  'email.bounced': 'bounced',
  'email.complained': 'complained',
};

/** A field that becomes a column: no U+0000 (PostgreSQL text cannot hold it), well-formed. */
const storableText = z.string().min(1).max(255).refine(isStorableText, 'not storable text');

const resendEvent = z.object({
  type: storableText,
  created_at: z.string().refine((value) => {
    // A date PostgreSQL's timestamptz holds: from 1970 to the year 9999.
    const time = Date.parse(value);
    return time >= 0 && time <= 253_402_300_799_000;
  }, 'not a date'),
  data: z.object({ email_id: storableText }).loose(),
});

/**
 * `POST /webhooks/resend`: Resend's delivery events, signed with Svix (Standard Webhooks:
 * `svix-id`, `svix-timestamp`, `svix-signature` over the raw body; verified by the Resend
 * SDK). Each event is kept in the inbox once (provider `resend`, the Svix message id) and
 * moves the ledger row forward: sent → delivered, and bounced or complained from anywhere. A
 * bounced receipt raises an alert and shows on the fulfillment job.
 */
export const registerResendWebhookRoute: FastifyPluginAsync<{
  db: Db;
  secret: string | undefined;
  alerts: AlertSinks;
}> = async (app, { db, secret, alerts }) => {
  const verifier = new Resend('re_webhook_verifier_only');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 256 * 1024 }, (_req, body, done) =>
    done(null, body),
  );

  app.post(
    '/webhooks/resend',
    async (request: FastifyRequest<{ Body: string | undefined }>, reply) => {
      if (!secret)
        return reply.code(503).send({ error: 'RESEND_WEBHOOK_SECRET is not configured' });
      const header = (name: string) => {
        const value = request.headers[name];
        return typeof value === 'string' ? value : '';
      };
      const body = typeof request.body === 'string' ? request.body : '';
      let verified: unknown;
      try {
        verified = verifier.webhooks.verify({
          payload: body,
          headers: {
            id: header('svix-id'),
            timestamp: header('svix-timestamp'),
            signature: header('svix-signature'),
          },
          webhookSecret: secret,
        });
      } catch {
        await recordAudit(db, {
          actor: 'resend',
          action: 'resend_webhook.invalid_signature',
          requestId: request.id,
          detail: { ip: request.ip },
        });
        return reply.code(400).send({ error: 'invalid Svix signature' });
      }
      const parsed = resendEvent.safeParse(verified);
      if (!parsed.success) {
        const fields = parsed.error.issues.map((i) => i.path.join('.') || '(root)').join(', ');
        // Signed by Resend but not an event we can key: kept, byte for byte, in the audit row.
        await recordAudit(db, {
          actor: 'resend',
          action: 'resend_webhook.malformed',
          reason: `invalid event fields: ${fields}`,
          requestId: request.id,
          detail: isStorableText(body)
            ? { rawBody: body }
            : { rawBodyBase64: Buffer.from(body, 'utf8').toString('base64') },
        });
        return reply.code(400).send({ error: `not a Resend email event: ${fields}` });
      }
      const event = parsed.data;
      const status = STATUS_BY_EVENT[event.type];

      const { inserted } = await recordWebhookEvent(db, {
        provider: 'resend',
        event_id: header('svix-id'),
        type: event.type,
        api_version: null,
        livemode: true,
        event_created_at: new Date(event.created_at),
        // The parsed event where PostgreSQL can hold it (no U+0000); the bytes always.
        payload: jsonbCanHold(verified) ? body : null,
        raw_body: Buffer.from(body, 'utf8'),
        dispatched_at: null,
        processed_at: new Date(),
        result: status ? 'processed' : 'ignored',
        error: null,
        workflow_id: null,
      });
      // Counted once per event (a redelivery is not a second bounce): the bounce and complaint
      // rates divide these by the sends (docs/SLOS.md).
      if (inserted) {
        // Resend's event names (email.delivered, email.bounced, …); anything else is one label.
        const type = /^email\.[a-z_]{1,32}$/.test(event.type) ? event.type : 'other';
        emailDeliveryEvents.inc({ provider: 'resend', type });
      }
      if (!inserted || !status) return reply.code(200).send({ received: true });

      const delivery = await advanceEmailDeliveryStatus(db, event.data.email_id, status);
      if (delivery && status === 'bounced' && delivery.kind === 'delivery' && delivery.order_id) {
        await flagBouncedReceipt(db, alerts, delivery.order_id, event.data.email_id);
      }
      return reply.code(200).send({ received: true });
    },
  );
};

async function flagBouncedReceipt(
  db: Db,
  alerts: AlertSinks,
  orderId: string,
  emailId: string,
): Promise<void> {
  const jobId = await flagReceiptBounceOnJob(db, orderId, emailId);
  await raiseAlert(db, alerts, {
    key: `email_bounced:${emailId}`,
    kind: 'email.bounced',
    severity: 'warning',
    summary: `the receipt for order ${orderId} bounced: the buyer has no download links`,
    jobId,
    detail: { orderId, emailId },
  });
}
