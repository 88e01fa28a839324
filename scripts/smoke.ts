// `npm run smoke -- [--base-url URL] [--claim] [--sku SKU]... [--sla-seconds N] [--json]`:
// walks one purchase through a running stack — webhook, receipt, (claim,) shelf, download —
// and prints each step's time. Exit 0 when every step passed within the SLA, 1 otherwise,
// 2 on a usage error. Secrets come from the environment (never flags, which `ps` shows).
import { existsSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { envSchema } from '../config/env.ts';
import { mintDevToken } from './lib/dev-auth.ts';
import { loadDotEnv } from './lib/runtime.ts';
import { runSmoke } from './lib/smoke.ts';
import { printRows } from './lib/table.ts';

const USAGE = `npm run smoke -- [--base-url URL] [--claim] [--sku SKU]... [--sla-seconds N] [--json]

  --base-url     the api (default http://localhost:$PORT, PORT defaulting to 3000)
  --claim        buy as a guest under the account's email, then claim it (claim-smoke)
  --sku          what to buy (repeatable; default ebook-durable-execution)
  --sla-seconds  purchase to downloaded file (default 60)

Environment (a local \`npm start\` provides all three in .data/):
  STRIPE_WEBHOOK_SECRETS  the api's webhook secret (the first is used) to sign the purchase
  SMOKE_OPERATOR_TOKEN    an operator token (support role) to read the admin timeline
  SMOKE_USER_TOKEN        a storefront JWT of the smoke account (sub and email claims);
                          unset: a fresh account signed with npm start's local key`;

loadDotEnv();
let values;
try {
  ({ values } = parseArgs({
    options: {
      'base-url': { type: 'string' },
      claim: { type: 'boolean', default: false },
      sku: { type: 'string', multiple: true, default: ['ebook-durable-execution'] },
      'sla-seconds': { type: 'string', default: '60' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (error) {
  console.error(`${(error as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const sla = Number(values['sla-seconds']);
if (!Number.isFinite(sla) || sla <= 0) {
  console.error(
    `--sla-seconds: expected a positive number of seconds, got ${values['sla-seconds']}`,
  );
  process.exit(2);
}

const localSecret = (file: string): string | null =>
  existsSync(`.data/${file}`) ? readFileSync(`.data/${file}`, 'utf8').trim() : null;
const missing = (what: string): never => {
  console.error(`${what}\n\n${USAGE}`);
  return process.exit(2);
};

const webhookSecret =
  process.env['STRIPE_WEBHOOK_SECRETS']?.split(',')[0]?.trim() ||
  localSecret('dev-webhook-secret') ||
  missing('No webhook secret: set STRIPE_WEBHOOK_SECRETS (or run `npm start` once).');
const operatorToken =
  process.env['SMOKE_OPERATOR_TOKEN'] ||
  localSecret('dev-operator-token') ||
  missing('No operator token: set SMOKE_OPERATOR_TOKEN (or run `npm start` once).');
let userToken = process.env['SMOKE_USER_TOKEN'];
if (!userToken) {
  if (!existsSync('.data/dev-jwt-private.json'))
    missing('No storefront token: set SMOKE_USER_TOKEN (or run `npm start` once).');
  const auth = envSchema.pick({ AUTH_ISSUER: true, AUTH_AUDIENCE: true }).parse(process.env);
  const id = randomBytes(6).toString('hex');
  userToken = await mintDevToken(
    { sub: `smoke|${id}`, email: `smoke+${id}@example.com` },
    auth.AUTH_ISSUER,
    auth.AUTH_AUDIENCE,
  );
}

const baseUrl = values['base-url'] ?? `http://localhost:${process.env['PORT'] ?? 3000}`;
const result = await runSmoke({
  baseUrl,
  webhookSecret,
  operatorToken,
  userToken,
  claim: values.claim,
  skus: values.sku,
  slaMs: sla * 1000,
});

if (values.json) {
  console.log(JSON.stringify(result, null, 2));
} else {
  console.log(
    `${values.claim ? 'claim smoke' : 'smoke'} against ${baseUrl}: payment intent ${result.paymentIntentId}`,
  );
  printRows(
    result.steps.map((s) => ({ step: s.step, ms: s.ms, at_ms: s.atMs, detail: s.detail })),
    false,
  );
  console.log(
    result.ok
      ? `PASSED in ${result.totalMs} ms (SLA ${sla * 1000} ms)`
      : `FAILED at ${result.failure!.step} after ${result.totalMs} ms: ${result.failure!.reason}`,
  );
}
process.exitCode = result.ok ? 0 : 1;
