import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { waitFor } from '../../stack/processes.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { testEnv, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

/** Shared by the test/ops suites: operator tokens, a real purchase, the CLI as a process. */

export const operators = {
  admin: { name: 'alice', role: 'admin', token: `adm_${randomBytes(18).toString('hex')}` },
  support: { name: 'bob', role: 'support', token: `sup_${randomBytes(18).toString('hex')}` },
} as const;

export const OPERATOR_TOKENS = Object.values(operators)
  .map((o) => `${o.name}:${o.role}:${o.token}`)
  .join(',');

/** A fulfilled guest purchase through the webhook, as Stripe would send it. */
export async function purchase(
  stack: TestStack,
  skus: string[] = ['ebook-durable-execution'],
): Promise<{ paymentIntentId: string; email: string }> {
  const paymentIntentId = stripeTestId('pi');
  const email = `${paymentIntentId}@example.com`.toLowerCase();
  const response = await postSignedEvent(
    stack.app,
    paymentSucceeded({ paymentIntentId, email, skus }),
    stack.webhookSecret,
  );
  if (response.statusCode !== 200) throw new Error(`webhook answered ${response.statusCode}`);
  await settledFulfillment(stack.temporal, paymentIntentId);
  return { paymentIntentId, email };
}

/** The download links (paths) in the newest email of `kind` for a purchase. */
export async function linksOf(stack: TestStack, purchaseKey: string, kind = 'delivery') {
  const rows = await purchaseRows(stack.db, purchaseKey);
  const email = rows.emails.filter((e) => e.kind === kind).at(-1);
  if (!email) return [];
  return [...email.text.matchAll(/(PDF|EPUB): (\S+)/g)].map((m) => new URL(m[2]!).pathname);
}

/** Waits until the purchase has `count` emails of `kind`. */
export async function waitForEmails(
  stack: TestStack,
  purchaseKey: string,
  kind: string,
  count: number,
) {
  await waitFor(
    `${count} ${kind} email(s) for ${purchaseKey}`,
    async () =>
      (await purchaseRows(stack.db, purchaseKey)).emails.filter(
        (e) => e.kind === kind && e.status !== 'queued',
      ).length >= count,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

/** Audit rows for a target, oldest first. */
export function auditOf(stack: TestStack, target: string) {
  return stack.db
    .selectFrom('audit_log')
    .selectAll()
    .where('target', '=', target)
    .orderBy('id')
    .execute();
}

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm run ops -- …` as a process against the suite's database, Temporal and storage. */
export async function ops(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['scripts/ops.ts', ...args], {
      env: { PATH: process.env['PATH'] ?? '', ...testEnv(env) },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: failed.code ?? 1, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

/** The JSON a `--json` command printed. */
export function jsonOf<T>(result: CliResult): T {
  if (result.code !== 0) throw new Error(`ops exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
