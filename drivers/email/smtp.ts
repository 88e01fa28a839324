import nodemailer from 'nodemailer';
import type { EmailDriver } from './driver.ts';
import { EmailSendError } from './errors.ts';

/**
 * SMTP through nodemailer: usable as the primary driver or as the fallback when the primary
 * provider is down. The idempotency key becomes the Message-ID (and Resend's SMTP header), so
 * a repeat is recognisable downstream; SMTP itself cannot refuse a repeat.
 */
export function createSmtpDriver({ url }: { url: string }): EmailDriver & { close(): void } {
  // Short timeouts: a hung relay must fail the attempt so the retry (or failover) can run.
  const transport = nodemailer.createTransport(url, {
    connectionTimeout: 10_000,
    socketTimeout: 20_000,
  } as never);
  return {
    name: 'smtp',
    async send(email) {
      try {
        const info = await transport.sendMail({
          from: email.from,
          to: email.to,
          subject: email.subject,
          html: email.html,
          text: email.text,
          messageId: `<${email.idempotencyKey.replaceAll(/[^A-Za-z0-9._-]/g, '-')}@fulfillment>`,
          headers: { 'Resend-Idempotency-Key': email.idempotencyKey },
        });
        return { driver: 'smtp', providerMessageId: info.messageId };
      } catch (error) {
        const code = (error as { responseCode?: number }).responseCode ?? null;
        // SMTP 5xx is a permanent rejection (bad address); 4xx and connection errors are not.
        throw new EmailSendError(
          `smtp ${code ?? 'connection'} ${error instanceof Error ? error.message : String(error)}`,
          {
            driver: 'smtp',
            retryable: code === null || code < 500,
            status: code,
          },
        );
      }
    },
    close() {
      transport.close();
    },
  };
}
