import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { listProducts, productStoragePath } from '../../db/queries/products.ts';
import type { Product } from '../../db/tables/products.ts';
import { createLocalStorage } from '../../drivers/storage/driver.ts';
import { HANDLED_STRIPE_EVENT_TYPES } from '../../gateway/stripe-routing.ts';
import { startStripeCompanion, type StripeCompanion } from '../../stack/stripe-companion.ts';
import type { PreflightReport } from '../../support/preflight.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { startTestStack } from '../helpers/stack.ts';
import { OPERATOR_TOKENS, operators, ops } from './support.ts';

/**
 * `npm run ops -- preflight` as a process against the Stripe companion (beside localstripe),
 * a scratch database holding only the demo catalog, and a storage directory of its own.
 */
let companion: StripeCompanion;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let dir: string;
let products: Product[];
const base = 'https://shop.example.com';
const webhookUrl = `${base}/webhooks/stripe`;
const secret = `whsec_${randomBytes(16).toString('hex')}`;
let env: Record<string, string>;

beforeAll(async () => {
  companion = await startStripeCompanion({ upstream: inject('stripeApiUrl') });
  scratch = await createScratchDatabase();
  dir = await mkdtemp(path.join(os.tmpdir(), 'preflight-'));
  products = await listProducts(scratch.db);
  env = {
    DATABASE_URL: scratch.url,
    STRIPE_API_URL: companion.url,
    STORAGE_LOCAL_DIR: dir,
    PUBLIC_BASE_URL: base,
    STRIPE_WEBHOOK_SECRETS: secret,
    STORE_CURRENCY: 'USD',
  };
});
afterAll(async () => {
  await companion?.close();
  await scratch?.drop();
  await rm(dir, { recursive: true, force: true });
});

/** The set-up the README asks for: endpoint with every handled type, prices, files. */
async function goodSetup() {
  companion.put({
    id: 'we_preflight',
    object: 'webhook_endpoint',
    url: webhookUrl,
    status: 'enabled',
    enabled_events: [...HANDLED_STRIPE_EVENT_TYPES],
    secret,
    created: 1_700_000_000,
    livemode: false,
    metadata: {},
  });
  const storage = createLocalStorage(dir);
  for (const product of products) {
    if (product.stripe_price_id)
      companion.put({
        id: product.stripe_price_id,
        object: 'price',
        active: true,
        currency: 'usd',
        unit_amount: 1900,
        product: `prod_${product.sku}`,
        type: 'one_time',
        created: 1_700_000_000,
      });
    for (const format of product.formats) {
      const key = productStoragePath(product, format);
      await storage.put(key, new TextEncoder().encode(key));
    }
  }
}

beforeEach(goodSetup);

describe('npm run ops -- preflight', () => {
  it('passes on a good set-up and prints every check', async () => {
    expect(products.some((p) => p.stripe_price_id)).toBe(true);
    const result = await ops(['preflight'], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^check\s+subject\s+result\s+detail/);
    expect(result.stdout).toMatch(
      new RegExp(`webhook endpoint\\s+${webhookUrl.replaceAll('.', '\\.')}\\s+ok`),
    );
    for (const type of HANDLED_STRIPE_EVENT_TYPES)
      expect(result.stdout).toMatch(new RegExp(`webhook event\\s+${type}\\s+ok`));
    expect(result.stdout).toContain("the endpoint's signing secret verifies");
    for (const product of products) {
      if (product.stripe_price_id)
        expect(result.stdout).toContain(`${product.sku} → ${product.stripe_price_id}`);
      for (const format of product.formats)
        expect(result.stdout).toMatch(
          new RegExp(`asset\\s+${productStoragePath(product, format)}\\s+ok`),
        );
    }
    expect(result.stdout).toContain('preflight passed');

    const json = JSON.parse((await ops(['preflight', '--json'], env)).stdout) as PreflightReport;
    expect(json).toMatchObject({ ok: true, failures: [] });
  });

  it('fails naming an event type the endpoint does not send', async () => {
    companion.put({
      id: 'we_preflight',
      object: 'webhook_endpoint',
      url: webhookUrl,
      status: 'enabled',
      enabled_events: HANDLED_STRIPE_EVENT_TYPES.filter((t) => t !== 'charge.dispute.closed'),
      created: 1_700_000_000,
      livemode: false,
      metadata: {},
    });
    const result = await ops(['preflight'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/webhook event\s+charge\.dispute\.closed\s+FAIL\s+not enabled/);
    expect(result.stderr).toContain('preflight failed (1)');
    expect(result.stderr).toContain('- webhook event charge.dispute.closed');

    // `*` enables every type.
    companion.put({
      id: 'we_preflight',
      object: 'webhook_endpoint',
      url: webhookUrl,
      status: 'enabled',
      enabled_events: ['*'],
      created: 1_700_000_000,
      livemode: false,
      metadata: {},
    });
    expect((await ops(['preflight'], env)).code).toBe(0);
  });

  it('fails naming a catalog file missing from storage', async () => {
    const product = products.find((p) => p.formats.length > 0)!;
    const key = productStoragePath(product, product.formats[0]!);
    await rm(path.join(dir, key));
    const result = await ops(['preflight'], env);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`asset\\s+${key}\\s+FAIL\\s+missing from storage`));
    expect(result.stderr).toContain(`- asset ${key}`);
    expect(result.stderr).toContain('preflight failed (1)');
  });

  it('fails on a wrong endpoint URL, a foreign signing secret, and a price in another currency or archived', async () => {
    const priced = products.filter((p) => p.stripe_price_id);
    companion.put({
      id: 'we_preflight',
      object: 'webhook_endpoint',
      url: webhookUrl,
      status: 'enabled',
      enabled_events: [...HANDLED_STRIPE_EVENT_TYPES],
      secret: `whsec_${randomBytes(16).toString('hex')}`,
      created: 1_700_000_000,
      livemode: false,
      metadata: {},
    });
    companion.put({
      id: priced[0]!.stripe_price_id!,
      object: 'price',
      active: true,
      currency: 'eur',
      unit_amount: 1900,
      product: 'prod_x',
      created: 1_700_000_000,
    });
    if (priced[1])
      companion.put({
        id: priced[1].stripe_price_id!,
        object: 'price',
        active: false,
        currency: 'usd',
        unit_amount: 1900,
        product: 'prod_y',
        created: 1_700_000_000,
      });
    const result = await ops(['preflight'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('- signing secret STRIPE_WEBHOOK_SECRETS');
    expect(result.stdout).toContain('in eur; the store sells in usd');
    if (priced[1]) expect(result.stdout).toContain('the price is archived (inactive)');

    const elsewhere = await ops(['preflight'], {
      ...env,
      PUBLIC_BASE_URL: 'https://other.example',
    });
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toContain('- webhook endpoint https://other.example/webhooks/stripe');
    expect(elsewhere.stdout).toContain(`registered: ${webhookUrl}`);
  });

  it('answers the same checks at GET /admin/preflight (admin only)', async () => {
    const stack = await startTestStack({ worker: false, env: { ...env, OPERATOR_TOKENS } });
    try {
      const call = (token: string) =>
        stack.app.inject({
          method: 'GET',
          url: '/admin/preflight',
          headers: { authorization: `Bearer ${token}` },
        });
      const good = await call(operators.admin.token);
      expect(good.statusCode).toBe(200);
      expect(good.json<PreflightReport>()).toMatchObject({ ok: true, failures: [] });
      expect((await call(operators.support.token)).statusCode).toBe(403);

      const product = products.find((p) => p.formats.length > 0)!;
      const key = productStoragePath(product, product.formats[0]!);
      await rm(path.join(dir, key));
      const bad = await call(operators.admin.token);
      expect(bad.statusCode).toBe(200);
      expect(bad.json<PreflightReport>()).toMatchObject({ ok: false, failures: [`asset ${key}`] });
    } finally {
      await stack.close();
    }
  });
});
