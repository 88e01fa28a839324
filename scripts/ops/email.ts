import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { EmailDriver } from '../../drivers/email/driver.ts';
import { EmailSendError } from '../../drivers/email/errors.ts';
import { createFailoverDriver } from '../../drivers/email/failover.ts';
import { createNamedDriver } from '../../drivers/email/index.ts';
import { renderOrderEmail } from '../../drivers/email/templates.ts';
import type { Config } from '../../config/env.ts';
import { ORDER_EMAIL_KINDS, type OrderEmailKind } from '../../workflows/contracts.ts';
import { printRows } from '../lib/table.ts';
import { UsageError } from './events.ts';

export const EMAIL_USAGE = `email preview <kind> [--out DIR]    write the rendered HTML and text of a template (${ORDER_EMAIL_KINDS.join(', ')})
email drill [--messages N] [--to ADDRESS]   simulate a primary outage and show the fallback delivering`;

/** Sample order for previews: every field a template uses, with characters that need escaping. */
const SAMPLE_ORDER = {
  orderReference: 'pi_3PreviewOrder',
  items: [
    { title: 'Durable Execution in Practice', formats: ['pdf', 'epub'] },
    { title: 'Webhooks <Course> Workbook & Notes', formats: ['pdf'] },
  ],
  amountTotal: 4900,
  currency: 'eur',
  paidAt: new Date('2026-11-22T10:00:00Z'),
  guest: true,
};

/** `email preview <kind>`: no database or Temporal needed. */
export async function previewEmail(argv: string[], json: boolean): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string', default: '.data/email-preview' } },
  });
  const kind = positionals[0];
  if (!kind || !(ORDER_EMAIL_KINDS as readonly string[]).includes(kind)) {
    throw new UsageError(`email preview needs a kind: ${ORDER_EMAIL_KINDS.join(', ')}`);
  }
  const rendered = renderOrderEmail(kind as OrderEmailKind, SAMPLE_ORDER);
  await mkdir(values.out, { recursive: true });
  const htmlFile = path.join(values.out, `${kind}.html`);
  const textFile = path.join(values.out, `${kind}.txt`);
  await writeFile(htmlFile, rendered.html);
  await writeFile(textFile, `Subject: ${rendered.subject}\n\n${rendered.text}\n`);
  printRows([{ kind, subject: rendered.subject, html: htmlFile, text: textFile }], json);
}

/** A primary provider in a simulated outage: every send answers 503. */
function outage(driver: EmailDriver): EmailDriver {
  return {
    name: driver.name,
    send() {
      return Promise.reject(
        new EmailSendError(`${driver.name}: simulated outage (503)`, {
          driver: driver.name,
          retryable: true,
          status: 503,
        }),
      );
    },
  };
}

/**
 * `email drill`: the monthly failover drill. Sends through the configured primary, held in a
 * simulated outage, wrapped in the configured failover, retrying each message as the worker
 * would, and reports how long the fallback took to take over and what each driver sent.
 */
export async function runEmailDrill(argv: string[], config: Config, json: boolean): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { messages: { type: 'string', default: '5' }, to: { type: 'string' } },
  });
  if (config.EMAIL_FALLBACK_DRIVER === 'none') {
    throw new UsageError(
      'no fallback to drill: set EMAIL_FALLBACK_DRIVER (smtp or outbox) and its settings',
    );
  }
  const messages = Number(values.messages);
  const to = values.to ?? /<([^>]+)>/.exec(config.EMAIL_FROM)?.[1] ?? config.EMAIL_FROM;
  const sentBy = new Map<string, number>();
  let failoverAfterMs: number | null = null;
  let primaryFailures = 0;
  const startedAt = performance.now();
  const driver = createFailoverDriver(
    outage(createNamedDriver(config.EMAIL_DRIVER, config)),
    createNamedDriver(config.EMAIL_FALLBACK_DRIVER, config),
    {
      threshold: config.EMAIL_FAILOVER_THRESHOLD,
      cooldownMs: config.EMAIL_FAILOVER_COOLDOWN_SECONDS * 1000,
      onFailover: () => {
        failoverAfterMs ??= performance.now() - startedAt;
      },
    },
  );
  const runId = new Date().toISOString().replaceAll(/[:.]/g, '-');
  for (let i = 1; i <= messages; i += 1) {
    const email = {
      idempotencyKey: `drill:${runId}:${i}`,
      from: config.EMAIL_FROM,
      to,
      subject: `Email failover drill ${runId} (${i}/${messages})`,
      html: `<p>Failover drill message ${i} of ${messages}. No action needed.</p>`,
      text: `Failover drill message ${i} of ${messages}. No action needed.`,
    };
    // Retry like the worker's email step until the message is out (bounded for safety).
    for (let attempt = 1; ; attempt += 1) {
      try {
        const sent = await driver.send(email);
        sentBy.set(sent.driver, (sentBy.get(sent.driver) ?? 0) + 1);
        break;
      } catch (error) {
        if (
          !(error instanceof EmailSendError) ||
          !error.retryable ||
          attempt >= config.EMAIL_FAILOVER_THRESHOLD + 1
        )
          throw error;
        primaryFailures += 1;
      }
    }
    if (!json) console.error(`drill: message ${i}/${messages} sent`);
  }
  printRows(
    [
      {
        primary: `${config.EMAIL_DRIVER} (simulated outage)`,
        fallback: config.EMAIL_FALLBACK_DRIVER,
        threshold: config.EMAIL_FAILOVER_THRESHOLD,
        primary_failures: primaryFailures,
        failover_after_ms: failoverAfterMs === null ? null : Math.round(failoverAfterMs),
        sent_by: Object.fromEntries(sentBy),
        recipient: to,
      },
    ],
    json,
  );
}
