import { emailSends } from '../../observability/metrics.ts';
import type { EmailDriver } from './driver.ts';
import { EmailSendError } from './errors.ts';

/** Counts every send by the driver that answered and its result. */
export function instrumentEmailDriver(driver: EmailDriver): EmailDriver {
  return {
    name: driver.name,
    async send(email) {
      try {
        const sent = await driver.send(email);
        emailSends.inc({ driver: sent.driver, result: 'sent' });
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
  };
}
