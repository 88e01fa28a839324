import Stripe from 'stripe';

/**
 * A Stripe API client. `apiUrl` points the SDK at an emulator (localstripe) for local use and
 * tests; unset, it talks to api.stripe.com.
 */
export function createStripeClient(secretKey: string, apiUrl?: string): Stripe {
  if (!apiUrl) return new Stripe(secretKey, { maxNetworkRetries: 2 });
  const url = new URL(apiUrl);
  return new Stripe(secretKey, {
    host: url.hostname,
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    protocol: url.protocol === 'https:' ? 'https' : 'http',
    // Two SDK-level retries ride out a dropped connection; Temporal retries the activity beyond.
    maxNetworkRetries: 2,
  });
}
