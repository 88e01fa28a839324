// `npm run smoke` against the local stack (real PostgreSQL, Temporal, worker and the api over
// HTTP), as a separate process: the known-account walk and the guest claim walk pass and leave
// the rows a real purchase leaves; a purchase the stack cannot fulfil fails at the step that
// broke, with exit code 1.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnRepoScript } from '../../stack/deployed-stack.ts';
import { getFreePort } from '../../stack/processes.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { exitOf } from '../helpers/services.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { OPERATOR_TOKENS, operators } from './support.ts';

let stack: TestStack;
let issuer: Awaited<ReturnType<typeof createTestIssuer>>;
let baseUrl: string;
// No .env and no .data/ here: the smoke must take everything from its environment.
const cwd = mkdtempSync(path.join(tmpdir(), 'smoke-'));

beforeAll(async () => {
  issuer = await createTestIssuer();
  const port = await getFreePort();
  baseUrl = `http://127.0.0.1:${port}`;
  stack = await startTestStack({
    // The receipt's links and the storage URLs must point at the listening api.
    env: { OPERATOR_TOKENS, PUBLIC_BASE_URL: baseUrl },
    app: { auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } },
  });
  await stack.app.listen({ host: '127.0.0.1', port });
});
afterAll(async () => {
  await stack?.close();
  rmSync(cwd, { recursive: true, force: true });
});

/** A fresh storefront account's token (verified email), as the storefront would send it. */
async function account() {
  const id = randomBytes(5).toString('hex');
  const sub = `auth0|smoke-${id}`;
  const email = `smoke-${id}@example.com`;
  return { sub, email, token: await issuer.token({ sub, email, email_verified: true }) };
}

async function smoke(userToken: string, args: string[] = []) {
  const child = spawnRepoScript('scripts/smoke.ts', ['--base-url', baseUrl, ...args], {
    cwd,
    env: {
      PATH: process.env['PATH'] ?? '',
      STRIPE_WEBHOOK_SECRETS: stack.webhookSecret,
      SMOKE_OPERATOR_TOKEN: operators.support.token,
      SMOKE_USER_TOKEN: userToken,
    },
  });
  const { code, output } = await exitOf(child, 90_000);
  const paymentIntentId = /payment intent (pi_smoke_\w+)/.exec(output)?.[1];
  return { code, output, paymentIntentId };
}

describe('npm run smoke', () => {
  it('walks a signed-in purchase: webhook, receipt, its links, shelf and download, each timed', async () => {
    const buyer = await account();
    const run = await smoke(buyer.token, ['--sla-seconds', '60']);
    expect(run.code, run.output).toBe(0);
    for (const step of ['purchase webhook', 'receipt sent', 'receipt links', 'shelf', 'download'])
      expect(run.output).toMatch(new RegExp(`^${step}\\s+\\d+\\s+\\d+\\s`, 'm'));
    expect(run.output).toMatch(/^download .*ebook-durable-execution PDF, \d+ bytes/m);
    expect(run.output).toMatch(/^PASSED in \d+ ms \(SLA 60000 ms\)$/m);

    // What the walk left is a real purchase: an account's order, active, sent and downloaded.
    const rows = await purchaseRows(stack.db, run.paymentIntentId!);
    expect(rows.orders).toHaveLength(1);
    expect(rows.entitlements).toMatchObject([{ status: 'active' }]);
    expect(rows.emails).toMatchObject([{ kind: 'delivery', recipient: buyer.email }]);
    const customer = await stack.db
      .selectFrom('customers')
      .select(['auth_user_id', 'email'])
      .where('id', '=', rows.orders[0]!.customer_id)
      .executeTakeFirstOrThrow();
    expect(customer).toEqual({ auth_user_id: buyer.sub, email: buyer.email });
    const downloads = await stack.db
      .selectFrom('download_events')
      .select(['format', 'outcome'])
      .where('entitlement_id', '=', rows.entitlements[0]!.id)
      .execute();
    expect(downloads).toContainEqual({ format: 'pdf', outcome: 'issued' });
  });

  it('--claim buys as a guest and claims the purchase with the receipt’s claim link', async () => {
    const buyer = await account();
    const run = await smoke(buyer.token, ['--claim']);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/^claim\s+\d+\s+\d+\s+1 purchase\(s\) by claim link/m);
    expect(run.output).toMatch(/^shelf .*ebook-durable-execution active/m);

    const rows = await purchaseRows(stack.db, run.paymentIntentId!);
    expect(rows.entitlements).toMatchObject([{ status: 'active' }]);
    const claims = await stack.db
      .selectFrom('claim_tokens')
      .select(['used_at'])
      .where('customer_id', '=', rows.orders[0]!.customer_id)
      .execute();
    expect(claims.some((c) => c.used_at !== null)).toBe(true);
    const customer = await stack.db
      .selectFrom('customers')
      .select(['auth_user_id', 'status'])
      .where('id', '=', rows.orders[0]!.customer_id)
      .executeTakeFirstOrThrow();
    expect(customer.auth_user_id).toBe(buyer.sub);
  });

  it('fails at the step that broke, with the reason support would need, and exits 1', async () => {
    const buyer = await account();
    const run = await smoke(buyer.token, ['--sku', 'no-such-product', '--sla-seconds', '30']);
    expect(run.code, run.output).toBe(1);
    expect(run.output).toMatch(/^purchase webhook\s+\d+/m);
    expect(run.output).toMatch(/^FAILED at receipt sent after \d+ ms: .*needs attention/m);
  });

  it('names a missing secret and exits 2 without sending anything', async () => {
    const child = spawnRepoScript('scripts/smoke.ts', ['--base-url', baseUrl], {
      cwd,
      env: { PATH: process.env['PATH'] ?? '', STRIPE_WEBHOOK_SECRETS: stack.webhookSecret },
    });
    const { code, output } = await exitOf(child);
    expect(code).toBe(2);
    expect(output).toContain('No operator token: set SMOKE_OPERATOR_TOKEN');
  });
});
