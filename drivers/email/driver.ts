/** A rendered message ready for a provider. */
export interface OutgoingEmail {
  idempotencyKey: string;
  from: string;
  to: string;
  subject: string;
  html: string;
  text: string;
}

export interface SentEmail {
  driver: string;
  providerMessageId: string;
}

/**
 * One interface for every email provider. `send` must be safe to call twice with the same
 * idempotency key: the ledger (email_deliveries) guards against repeats, and providers that
 * support idempotency keys receive them as a second line of defence.
 */
export interface EmailDriver {
  readonly name: string;
  send(email: OutgoingEmail): Promise<SentEmail>;
}

/**
 * The local default: the ledger row already holds the rendered message, so "sending" only
 * confirms it. The dev page at /dev/outbox lists and renders what was recorded.
 */
export function createOutboxDriver(): EmailDriver {
  return {
    name: 'outbox',
    send(email) {
      return Promise.resolve({
        driver: 'outbox',
        providerMessageId: `outbox:${email.idempotencyKey}`,
      });
    },
  };
}
