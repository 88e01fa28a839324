import type { Config } from '../../config/env.ts';
import { createOutboxDriver, type EmailDriver } from './driver.ts';
import { createFailoverDriver } from './failover.ts';
import { instrumentEmailDriver } from './instrumented.ts';
import { createResendDriver } from './resend.ts';
import { createSmtpDriver } from './smtp.ts';

type DriverName = 'outbox' | 'resend' | 'smtp';

export function createNamedDriver(name: DriverName, config: Config): EmailDriver {
  switch (name) {
    case 'outbox':
      return createOutboxDriver();
    case 'resend':
      return createResendDriver({ apiKey: config.RESEND_API_KEY!, baseUrl: config.RESEND_API_URL });
    case 'smtp':
      return createSmtpDriver({ url: config.SMTP_URL! });
  }
}

/** The email driver the configuration describes, with its fallback when one is set. */
export function createEmailDriver(config: Config): EmailDriver {
  const primary = createNamedDriver(config.EMAIL_DRIVER, config);
  // Every send is counted by driver and result (email_sends_total).
  if (config.EMAIL_FALLBACK_DRIVER === 'none') return instrumentEmailDriver(primary);
  const failover = createFailoverDriver(
    primary,
    createNamedDriver(config.EMAIL_FALLBACK_DRIVER, config),
    {
      threshold: config.EMAIL_FAILOVER_THRESHOLD,
      cooldownMs: config.EMAIL_FAILOVER_COOLDOWN_SECONDS * 1000,
      onFailover: (error) =>
        console.warn(
          JSON.stringify({
            level: 'warn',
            msg: 'email failover',
            from: config.EMAIL_DRIVER,
            to: config.EMAIL_FALLBACK_DRIVER,
            error: error.message,
          }),
        ),
    },
  );
  return instrumentEmailDriver(failover);
}
