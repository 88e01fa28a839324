import Stripe from 'stripe';
import { inSpan, SpanKind } from '../observability/tracing.ts';

/** `/v1/payment_intents/pi_123/confirm` → `/v1/payment_intents/{id}/confirm`: ids stay out of span names. */
export function stripePathTemplate(path: string): string {
  return path.split('?', 1)[0]!.replaceAll(/\/[a-z]{2,8}_[A-Za-z0-9_]+/g, '/{id}');
}

/**
 * The SDK's own Node HTTP client, each request a `stripe <METHOD> <path>` client span (the
 * SDK's retries are spans of their own). Query strings and bodies are never recorded.
 */
function tracedHttpClient(): Stripe.HttpClient {
  const inner = Stripe.createNodeHttpClient();
  return {
    getClientName: () => inner.getClientName(),
    makeRequest: (host, port, path, method, headers, requestData, protocol, timeout) =>
      inSpan(
        `stripe ${method} ${stripePathTemplate(path)}`,
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'http.request.method': method,
            'server.address': host,
            'url.template': stripePathTemplate(path),
          },
        },
        async (span) => {
          const response = await inner.makeRequest(
            host,
            port,
            path,
            method,
            headers,
            requestData,
            protocol,
            timeout,
          );
          span.setAttribute('http.response.status_code', response.getStatusCode());
          return response;
        },
      ),
  };
}

/**
 * A Stripe API client. `apiUrl` points the SDK at an emulator (localstripe) for local use and
 * tests; unset, it talks to api.stripe.com. Every API call is a span.
 */
export function createStripeClient(secretKey: string, apiUrl?: string): Stripe {
  const httpClient = tracedHttpClient();
  if (!apiUrl) return new Stripe(secretKey, { maxNetworkRetries: 2, httpClient });
  const url = new URL(apiUrl);
  return new Stripe(secretKey, {
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    // Two SDK-level retries ride out a dropped connection; Temporal retries the activity beyond.
    maxNetworkRetries: 2,
    httpClient,
  });
}

/** Every webhook endpoint of the account (`GET /v1/webhook_endpoints`, paged), at most 1,000. */
export async function listWebhookEndpoints(stripe: Stripe): Promise<Stripe.WebhookEndpoint[]> {
  return stripe.webhookEndpoints.list({ limit: 100 }).autoPagingToArray({ limit: 1000 });
}

/** Every price of the account, active or not (`GET /v1/prices`, paged), at most 10,000. */
export async function listPrices(stripe: Stripe): Promise<Stripe.Price[]> {
  return stripe.prices.list({ limit: 100 }).autoPagingToArray({ limit: 10_000 });
}
