// `npm run send-test-webhook -- [--email a@b.c] [--sku SKU]... [--url URL]`: posts a signed
// payment_intent.succeeded to the local api, signed with the configured (or local) secret.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { fulfillmentWorkflowId } from '../workflows/contracts.ts';
import { loadDotEnv } from './lib/runtime.ts';
import { buildPaymentIntentSucceededEvent, signStripePayload } from '../stack/stripe-events.ts';

loadDotEnv();
const { values } = parseArgs({
  options: {
    email: { type: 'string', default: 'buyer@example.com' },
    sku: { type: 'string', multiple: true, default: ['ebook-durable-execution'] },
    'user-id': { type: 'string' },
    url: {
      type: 'string',
      default: `http://localhost:${process.env['PORT'] ?? 3000}/webhooks/stripe`,
    },
  },
});
const secretFile = '.data/dev-webhook-secret';
const secret =
  process.env['STRIPE_WEBHOOK_SECRETS']?.split(',')[0]?.trim() ||
  (existsSync(secretFile) ? readFileSync(secretFile, 'utf8').trim() : null);
if (!secret) {
  console.error(
    'No webhook secret: set STRIPE_WEBHOOK_SECRETS or run `npm start` once to create one.',
  );
  process.exit(1);
}
const event = buildPaymentIntentSucceededEvent({
  skus: values.sku,
  email: values.email,
  ...(values['user-id'] ? { userId: values['user-id'] } : {}),
});
const payload = JSON.stringify(event);
const response = await fetch(values.url, {
  method: 'POST',
  headers: {
    'content-type': 'application/json',
    'stripe-signature': signStripePayload(payload, secret),
  },
  body: payload,
});
console.log(`${response.status} ${await response.text()}`);
console.log(`event ${event.id} → workflow ${fulfillmentWorkflowId(event.data.object.id)}`);
const ui = process.env['TEMPORAL_UI_URL'] ?? 'http://localhost:8233';
console.log(
  `Temporal UI: ${ui}/namespaces/${process.env['TEMPORAL_NAMESPACE'] ?? 'default'}/workflows/${fulfillmentWorkflowId(event.data.object.id)}`,
);
process.exitCode = response.ok ? 0 : 1;
