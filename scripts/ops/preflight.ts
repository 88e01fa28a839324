import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { createStripeClient } from '../../drivers/stripe.ts';
import { runPreflight } from '../../support/preflight.ts';
import { printRows } from '../lib/table.ts';
import { createStorage } from '../lib/services.ts';
import { UsageError } from './events.ts';

export const PREFLIGHT_USAGE = `preflight                           pre-launch check of the Stripe account and storage: webhook
                                    endpoint + event types, signing secret, prices, catalog files`;

/**
 * `npm run ops -- preflight`: prints the table (check, subject, result, detail) and exits 1
 * naming the failing rows. Reads only: no operator or reason needed.
 */
export async function runPreflightCommand(
  argv: string[],
  { db, config, json }: { db: Db; config: Config; json: boolean },
): Promise<void> {
  if (argv.length > 0) throw new UsageError(`preflight takes no arguments\n${PREFLIGHT_USAGE}`);
  const report = await runPreflight({
    db,
    storage: createStorage(config),
    stripe: createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL),
    publicBaseUrl: config.PUBLIC_BASE_URL,
    webhookSecrets: config.STRIPE_WEBHOOK_SECRETS,
    currency: config.STORE_CURRENCY,
  });
  if (json) console.log(JSON.stringify(report, null, 2));
  else
    printRows(
      report.rows.map((r) => ({ ...r })),
      false,
    );
  if (!report.ok) {
    console.error(
      `preflight failed (${report.failures.length}):\n${report.failures.map((f) => `  - ${f}`).join('\n')}`,
    );
    process.exitCode = 1;
  } else if (!json) console.log('\npreflight passed');
}
