// The support console's browser harness, shared by the test/console suites: a local OpenID
// Connect provider with three agents, the service against the suite's Postgres and Temporal
// (listening on localhost, as the browser reaches it) and Debian's Chromium.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { startLocalOidcProvider, type LocalOidcProvider } from '../../stack/oidc-provider.ts';
import { getFreePort } from '../../stack/processes.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

/** Debian's package (`.ci/run` installs it); playwright's own browser downloads cannot run here. */
const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';
/** `UPDATE_CONSOLE_SCREENSHOTS=1` refreshes the README's screenshots in docs/console/. */
export const SCREENSHOTS = process.env['UPDATE_CONSOLE_SCREENSHOTS']
  ? path.resolve('docs/console')
  : mkdtempSync(path.join(tmpdir(), 'console-shots-'));

export const users = {
  support: {
    email: 'support@example.test',
    password: randomBytes(9).toString('hex'),
    roles: ['support'],
  },
  admin: {
    email: 'admin@example.test',
    password: randomBytes(9).toString('hex'),
    roles: ['admin'],
  },
  nobody: { email: 'nobody@example.test', password: randomBytes(9).toString('hex'), roles: [] },
};
export type ConsoleUser = (typeof users)[keyof typeof users];

export interface ConsoleHarness {
  /** Where the browser reaches the api: `http://localhost:<port>`. */
  base: string;
  stack: TestStack;
  browser: Browser;
  close(): Promise<void>;
}

/** Starts the provider, the stack (console configured, listening) and the browser. */
export async function startConsoleHarness(): Promise<ConsoleHarness> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const port = await getFreePort();
  // localhost, not 127.0.0.1: the issuer is another site, as in production.
  const base = `http://localhost:${port}`;
  let provider: LocalOidcProvider | undefined;
  let stack: TestStack | undefined;
  try {
    provider = await startLocalOidcProvider({
      redirectUris: [`${base}/console/auth/callback`],
      users: Object.values(users),
    });
    stack = await startTestStack({
      env: {
        PUBLIC_BASE_URL: base,
        CONSOLE_OIDC_ISSUER: provider.issuer,
        CONSOLE_OIDC_CLIENT_ID: provider.clientId,
        CONSOLE_OIDC_CLIENT_SECRET: provider.clientSecret,
        CONSOLE_SESSION_SECRETS: randomBytes(32).toString('hex'),
      },
    });
    await stack.app.listen({ host: '127.0.0.1', port });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    const started = { provider, stack };
    return {
      base,
      stack,
      browser,
      async close() {
        await browser.close();
        await started.stack.close();
        await started.provider.stop();
      },
    };
  } catch (error) {
    await stack?.close();
    await provider?.stop();
    throw error;
  }
}

/** A fresh browser profile signed in as `user` through the provider's sign-in page. */
export async function signIn(
  { browser, base }: ConsoleHarness,
  user: ConsoleUser,
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 } });
  const page = await context.newPage();
  await page.goto(`${base}/console`);
  await page.getByRole('link', { name: /Sign in with/ }).click();
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page
    .waitForURL(`${base}/console/purchases`, { timeout: 10_000 })
    .catch(async (error: unknown) => {
      throw new Error(`sign-in ended at ${page.url()}: ${await page.locator('body').innerText()}`, {
        cause: error,
      });
    });
  return { context, page };
}

/** Opens the purchase found by the buyer's email. */
export async function openPurchase(
  { base }: ConsoleHarness,
  page: Page,
  email: string,
  paymentIntentId: string,
) {
  await page.goto(`${base}/console/purchases`);
  await page.getByLabel('Buyer email').fill(email);
  await page.getByRole('button', { name: 'Search' }).click();
  await page.getByRole('link', { name: new RegExp(`Open purchase ${paymentIntentId}`) }).click();
  expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain(paymentIntentId);
}
