import { createHmac } from 'node:crypto';
import type Stripe from 'stripe';
import type { Db } from '../db/database.ts';
import { listProducts, productStoragePath } from '../db/queries/products.ts';
import { listPrices, listWebhookEndpoints } from '../drivers/stripe.ts';
import type { StorageDriver } from '../drivers/storage/driver.ts';
import { verifyStripeSignature } from '../gateway/signature.ts';
import { HANDLED_STRIPE_EVENT_TYPES } from '../gateway/stripe-routing.ts';

/** What the pre-launch check reads: nothing is written. */
export interface PreflightDeps {
  db: Db;
  storage: StorageDriver;
  stripe: Stripe;
  /** PUBLIC_BASE_URL: the webhook endpoint must be `<it>/webhooks/stripe`. */
  publicBaseUrl: string;
  /** STRIPE_WEBHOOK_SECRETS, as the gateway verifies with them. */
  webhookSecrets: readonly string[];
  /** STORE_CURRENCY, lower-case. */
  currency: string;
}

export interface PreflightRow {
  check: 'webhook endpoint' | 'webhook event' | 'signing secret' | 'price' | 'asset';
  subject: string;
  result: 'ok' | 'FAIL';
  detail: string;
}

export interface PreflightReport {
  ok: boolean;
  rows: PreflightRow[];
  /** The failing rows, `<check> <subject>`. */
  failures: string[];
}

/** Where Stripe must deliver: the gateway's route under the service's public base URL. */
export function webhookUrlOf(publicBaseUrl: string): string {
  return `${publicBaseUrl.replace(/\/+$/, '')}/webhooks/stripe`;
}

/** A `Stripe-Signature` header over `body` as Stripe makes it: `t=<unix>,v1=<hmac>`. */
function signLikeStripe(body: Buffer, secret: string, timestamp: number): string {
  const mac = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), body]))
    .digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/**
 * Seed 004's pre-launch list against the Stripe account and storage: the webhook endpoint for
 * this service's URL exists, is enabled and sends every type the gateway handles (`*` is all);
 * the signing secret verifies through the gateway's own check; every product with a Stripe
 * price id maps to an active price in the store's currency; every catalog file is in storage.
 */
export async function runPreflight(deps: PreflightDeps): Promise<PreflightReport> {
  const rows: PreflightRow[] = [];
  const row = (
    check: PreflightRow['check'],
    subject: string,
    ok: boolean,
    detail: string,
  ): void => {
    rows.push({ check, subject, result: ok ? 'ok' : 'FAIL', detail });
  };

  // (a) the webhook endpoint and its event types.
  const url = webhookUrlOf(deps.publicBaseUrl);
  // A Stripe API that refuses or fails is a failing row, not a crash: the rest still runs.
  const stripeFailure = (error: unknown) =>
    error instanceof Error ? error.message.slice(0, 200) : String(error);
  let endpoints: Stripe.WebhookEndpoint[] = [];
  let endpointsError: string | null = null;
  try {
    endpoints = await listWebhookEndpoints(deps.stripe);
  } catch (error) {
    endpointsError = stripeFailure(error);
  }
  const forUs = endpoints.filter((e) => e.url === url);
  const enabled = forUs.filter((e) => e.status === 'enabled');
  if (endpointsError !== null) {
    row('webhook endpoint', url, false, `Stripe API: ${endpointsError}`);
  } else if (forUs.length === 0) {
    const others = endpoints.map((e) => e.url).join(', ');
    row(
      'webhook endpoint',
      url,
      false,
      `no endpoint registered for this URL${others ? ` (registered: ${others})` : ''}`,
    );
  } else if (enabled.length === 0) {
    row('webhook endpoint', url, false, `registered but ${forUs[0]!.status}`);
  } else {
    row('webhook endpoint', url, true, `${enabled.map((e) => e.id).join(', ')} enabled`);
  }
  const types = new Set(enabled.flatMap((e) => e.enabled_events));
  for (const type of HANDLED_STRIPE_EVENT_TYPES) {
    const on = types.has('*') || types.has(type);
    row(
      'webhook event',
      type,
      on,
      on ? (types.has(type) ? 'enabled' : 'enabled (*)') : 'not enabled on the endpoint',
    );
  }

  // (b) the signing secret, through the gateway's verification.
  const body = Buffer.from(
    JSON.stringify({ id: 'evt_preflight', object: 'event', type: 'preflight.check' }),
  );
  const now = Math.floor(Date.now() / 1000);
  const selfCheck = deps.webhookSecrets.every(
    (secret) =>
      verifyStripeSignature(body, signLikeStripe(body, secret, now), deps.webhookSecrets).ok,
  );
  // Stripe returns an endpoint's secret only when it is created; an emulator may hold it.
  const endpointSecrets = enabled
    .map((e) => (e as { secret?: unknown }).secret)
    .filter((s): s is string => typeof s === 'string' && s.length > 0);
  if (!selfCheck) {
    row('signing secret', 'STRIPE_WEBHOOK_SECRETS', false, 'a signed payload does not verify');
  } else if (endpointSecrets.length > 0) {
    const verifies = endpointSecrets.every(
      (secret) =>
        verifyStripeSignature(body, signLikeStripe(body, secret, now), deps.webhookSecrets).ok,
    );
    row(
      'signing secret',
      'STRIPE_WEBHOOK_SECRETS',
      verifies,
      verifies
        ? "the endpoint's signing secret verifies"
        : "the endpoint's signing secret is not in STRIPE_WEBHOOK_SECRETS: deliveries get 400",
    );
  } else {
    row(
      'signing secret',
      'STRIPE_WEBHOOK_SECRETS',
      true,
      `${deps.webhookSecrets.length} secret(s) sign and verify (Stripe does not show the endpoint's secret: compare it in the dashboard)`,
    );
  }

  // (c) prices, (d) assets.
  const products = await listProducts(deps.db);
  let prices: Map<string, Stripe.Price> | null = null;
  let pricesError = '';
  try {
    prices = new Map((await listPrices(deps.stripe)).map((p) => [p.id, p]));
  } catch (error) {
    pricesError = stripeFailure(error);
  }
  for (const product of products) {
    if (product.stripe_price_id) {
      const price = prices?.get(product.stripe_price_id);
      const subject = `${product.sku} → ${product.stripe_price_id}`;
      if (!prices) row('price', subject, false, `Stripe API: ${pricesError}`);
      else if (!price) row('price', subject, false, 'no such price in the Stripe account');
      else if (!price.active) row('price', subject, false, 'the price is archived (inactive)');
      else if (price.currency !== deps.currency)
        row('price', subject, false, `in ${price.currency}; the store sells in ${deps.currency}`);
      else
        row(
          'price',
          subject,
          true,
          `${price.unit_amount === null ? 'custom amount' : (price.unit_amount / 100).toFixed(2)} ${price.currency}`,
        );
    }
    for (const format of product.formats) {
      const key = productStoragePath(product, format);
      const there = await deps.storage.exists(key);
      row('asset', key, there, there ? `${product.sku} ${format}` : 'missing from storage');
    }
  }

  const failures = rows.filter((r) => r.result === 'FAIL').map((r) => `${r.check} ${r.subject}`);
  return { ok: failures.length === 0, rows, failures };
}
