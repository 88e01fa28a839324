// The webhook benchmark's baseline, a process of its own like the api: the least any webhook
// endpoint on this stack does — verify the Stripe signature over the raw body, insert the
// inbox row (parsed JSON and raw bytes) into the same database, answer 200. No audit row, no
// Temporal, no security hooks. Started by bench/webhooks.ts with DATABASE_URL,
// STRIPE_WEBHOOK_SECRETS and PORT; prints `listening <url>` once it takes requests.
import Fastify, { type FastifyRequest } from 'fastify';
import { connectDatabase } from '../db/connect.ts';
import { recordWebhookEvent } from '../db/queries/webhook-events.ts';
import { verifyStripeSignature } from '../gateway/signature.ts';
import { STRIPE_WEBHOOK_PATH } from '../stack/load.ts';

interface BareEventEnvelope {
  id: string;
  type: string;
  created: number;
  livemode: boolean;
  api_version?: string | null;
}

const databaseUrl = process.env['DATABASE_URL'];
const secrets = (process.env['STRIPE_WEBHOOK_SECRETS'] ?? '').split(',').filter(Boolean);
if (!databaseUrl || secrets.length === 0) {
  console.error('bare-webhook-server: DATABASE_URL and STRIPE_WEBHOOK_SECRETS are required');
  process.exit(2);
}
const db = await connectDatabase({ kind: 'postgres', url: databaseUrl });
const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => {
  done(null, body);
});
app.get('/healthz', () => ({ status: 'ok' }));
app.post(STRIPE_WEBHOOK_PATH, async (request: FastifyRequest<{ Body: Buffer }>, reply) => {
  const header = request.headers['stripe-signature'];
  const check = verifyStripeSignature(
    request.body,
    typeof header === 'string' ? header : undefined,
    secrets,
  );
  if (!check.ok) return reply.code(400).send({ error: check.reason });
  const payload = request.body.toString('utf8');
  const event = JSON.parse(payload) as BareEventEnvelope;
  await recordWebhookEvent(db, {
    provider: 'stripe',
    event_id: event.id,
    type: event.type,
    api_version: event.api_version ?? null,
    livemode: event.livemode,
    event_created_at: new Date(event.created * 1000),
    payload,
    raw_body: request.body,
    dispatched_at: null,
    processed_at: null,
    result: null,
    error: null,
    workflow_id: null,
  });
  return reply.code(200).send({ received: true });
});
const url = await app.listen({ host: '127.0.0.1', port: Number(process.env['PORT'] ?? 0) });
console.log(`listening ${url}`);
process.once('SIGTERM', () => {
  void app
    .close()
    .then(() => db.destroy())
    .then(() => process.exit(0));
});
