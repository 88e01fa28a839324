import { parseArgs } from 'node:util';
import type { Client } from '@temporalio/client';
import { createStripeClient } from '../../drivers/stripe.ts';
import { alertSinksFromConfig } from '../../drivers/alert-sinks.ts';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import { dayWindow, previousDayWindow, runReconciliation } from '../../support/reconciliation.ts';
import { printRows } from '../lib/table.ts';
import { UsageError } from './events.ts';

export const RECONCILE_USAGE = `reconcile [--date YYYY-MM-DD] [--heal] [--payment-intent pi_…]… [--operator NAME]
                                    Stripe's succeeded payments of a UTC day (default yesterday) × orders,
                                    entitlements and receipts; --heal (or RECONCILE_AUTO_HEAL) re-drives
                                    paid-not-entitled and entitled-without-email`;

/** `npm run ops -- reconcile`: one reconciliation run, stored and alerted like the schedule's. */
export async function runReconcileCommand(
  argv: string[],
  { db, temporal, config, json }: { db: Db; temporal: Client; config: Config; json: boolean },
): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      date: { type: 'string' },
      heal: { type: 'boolean', default: false },
      operator: { type: 'string' },
      'payment-intent': { type: 'string', multiple: true },
    },
  });
  let window;
  try {
    window = values.date ? dayWindow(values.date) : previousDayWindow(new Date());
  } catch (error) {
    throw new UsageError(`--${(error as Error).message}`);
  }
  const heal = values.heal || config.RECONCILE_AUTO_HEAL;
  const actor = values.operator ?? process.env['USER'] ?? 'operator';
  if (!json) {
    console.error(
      `reconciling ${window.start.toISOString().slice(0, 10)} (${heal ? 'healing' : 'report only'}) …`,
    );
  }
  const run = await runReconciliation(
    {
      db,
      temporal,
      stripe: createStripeClient(config.STRIPE_SECRET_KEY, config.STRIPE_API_URL),
      sinks: alertSinksFromConfig(config),
    },
    { window, heal, actor, purchaseKeys: values['payment-intent'] },
  );
  if (json) {
    console.log(JSON.stringify(run, null, 2));
    return;
  }
  printRows(
    run.findings.map((f) => ({
      class: f.class,
      purchase: f.purchaseKey,
      order_id: f.orderId,
      detail: f.detail,
      action: f.action,
    })),
    false,
  );
  const counts = Object.entries(run.counts)
    .map(([name, count]) => `${name}: ${count}`)
    .join(', ');
  console.log(
    `\nrun ${run.id}: ${run.payments_checked} payments, ${run.orders_checked} orders checked; ${counts}; healed ${run.healed}`,
  );
}
