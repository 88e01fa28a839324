import { Counter, type Registry } from 'prom-client';

/** What an operator watches on the gateway (exposed on the api's /metrics). */
export function createGatewayMetrics(registry: Registry) {
  return {
    /**
     * Verifications by the secret that matched (`secret_index` in STRIPE_WEBHOOK_SECRETS order,
     * and a short fingerprint that never reveals the secret) or `none`. When the old secret's
     * count stops growing, the rotation is complete and it can be removed.
     */
    verifications: new Counter({
      name: 'stripe_webhook_verifications_total',
      help: 'Stripe webhook signature checks by matching secret',
      labelNames: ['secret_index', 'secret_fingerprint', 'outcome'] as const,
      registers: [registry],
    }),
    events: new Counter({
      name: 'webhook_events_total',
      help: 'Webhook events by provider, type and processing result',
      labelNames: ['provider', 'type', 'result'] as const,
      registers: [registry],
    }),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;
