import { Resend } from 'resend';
import type { EmailDriver } from './driver.ts';
import { EmailSendError, retryAfterMs } from './errors.ts';

/**
 * Resend (`POST /emails`). Every send carries the ledger's idempotency key, so Resend itself
 * drops a repeat within 24 h — the guard for a worker that died after Resend accepted the
 * message but before the ledger recorded it. The SDK returns errors rather than throwing,
 * except for failures it cannot classify; both shapes end in an EmailSendError.
 */
export function createResendDriver({
  apiKey,
  baseUrl,
}: {
  apiKey: string;
  baseUrl?: string | undefined;
}): EmailDriver {
  const resend = new Resend(apiKey, baseUrl ? { baseUrl } : undefined);
  return {
    name: 'resend',
    async send(email) {
      let result: Awaited<ReturnType<typeof resend.emails.send>>;
      try {
        result = await resend.emails.send(
          {
            from: email.from,
            to: [email.to],
            subject: email.subject,
            html: email.html,
            text: email.text,
          },
          { idempotencyKey: email.idempotencyKey },
        );
      } catch (error) {
        throw new EmailSendError(
          `resend request failed: ${error instanceof Error ? error.message : String(error)}`,
          {
            driver: 'resend',
            retryable: true,
          },
        );
      }
      if (result.error) {
        const status = result.error.statusCode ?? null;
        // No status: the request never got an answer (network, DNS, timeout).
        const retryable =
          status === null ||
          status === 429 ||
          status >= 500 ||
          result.error.name === 'concurrent_idempotent_requests';
        const headers = (result as { headers?: Record<string, string> | null }).headers ?? null;
        throw new EmailSendError(
          `resend ${status ?? 'unreachable'} ${result.error.name}: ${result.error.message}`,
          {
            driver: 'resend',
            retryable,
            status,
            retryAfterMs: retryAfterMs(headers?.['retry-after']),
          },
        );
      }
      return { driver: 'resend', providerMessageId: result.data.id };
    },
  };
}
