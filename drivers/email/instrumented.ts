import { emailSends } from '../../observability/metrics.ts';
import { inSpan, SpanKind } from '../../observability/tracing.ts';
import type { EmailDriver } from './driver.ts';
import { EmailSendError } from './errors.ts';

/**
 * Counts every send by the driver that answered and its result, and traces it as an
 * `email send` span (the idempotency key names the message; the address never appears).
 */
export function instrumentEmailDriver(driver: EmailDriver): EmailDriver {
  return {
    name: driver.name,
    send(email) {
      return inSpan(
        'email send',
        {
          kind: SpanKind.CLIENT,
          attributes: {
            'email.driver': driver.name,
            'email.idempotency_key': email.idempotencyKey,
          },
        },
        async (span) => {
          try {
            const sent = await driver.send(email);
            emailSends.inc({ driver: sent.driver, result: 'sent' });
            span.setAttributes({
              'email.sent_by': sent.driver,
              'email.provider_message_id': sent.providerMessageId,
            });
            return sent;
          } catch (error) {
            const rejected = error instanceof EmailSendError && !error.retryable;
            emailSends.inc({
              driver: error instanceof EmailSendError ? error.driver : driver.name,
              result: rejected ? 'rejected' : 'failed',
            });
            throw error;
          }
        },
      );
    },
  };
}
