import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDownloadToken } from '../../security/download-links.ts';
import { buildChargeRefundedEvent, stripeTestId } from '../../stack/stripe-events.ts';
import { refundWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(async () => {
  await stack?.close();
});

/** A fulfilled guest purchase and the download links its receipt carries (as paths). */
async function purchaseWithLinks() {
  const paymentIntentId = stripeTestId('pi');
  await postSignedEvent(
    stack.app,
    paymentSucceeded({
      paymentIntentId,
      email: `${paymentIntentId}@example.com`,
      skus: ['ebook-durable-execution'],
    }),
    stack.webhookSecret,
  );
  await settledFulfillment(stack.temporal, paymentIntentId);
  const rows = await purchaseRows(stack.db, paymentIntentId);
  const links = [...rows.emails[0]!.text.matchAll(/(PDF|EPUB): (\S+)/g)].map((m) => ({
    format: m[1]!,
    path: new URL(m[2]!).pathname,
  }));
  return { paymentIntentId, rows, links };
}

const click = (path: string) =>
  stack.app.inject({ method: 'GET', url: path, headers: { 'user-agent': 'test-browser/1.0' } });

describe('emailed download links', () => {
  it('carry one link per format, never a storage URL', async () => {
    const { rows, links } = await purchaseWithLinks();
    expect(links.map((l) => l.format)).toEqual(['PDF', 'EPUB']);
    expect(links.every((l) => l.path.startsWith('/downloads/'))).toBe(true);
    expect(rows.emails[0]!.html).toContain('Download PDF');
    expect(rows.emails[0]!.text).not.toContain('storage');
  });

  it('redirect to a short-lived storage URL that serves the file, and log the download', async () => {
    const { rows, links } = await purchaseWithLinks();
    const response = await click(links[0]!.path);
    expect(response.statusCode).toBe(302);
    const location = new URL(response.headers.location as string);
    expect(location.pathname).toMatch(/^\/storage\/local\//);

    const file = await click(location.pathname);
    expect(file.statusCode).toBe(200);
    expect(file.headers['content-disposition']).toBe(
      'attachment; filename="durable-execution-v1.pdf"',
    );
    expect(file.body).toContain('Durable Execution in Practice (PDF, demo file)');

    const events = await stack.db
      .selectFrom('download_events')
      .selectAll()
      .where('entitlement_id', '=', rows.entitlements[0]!.id)
      .execute();
    expect(events).toMatchObject([
      {
        format: 'pdf',
        source: 'email_link',
        outcome: 'issued',
        user_agent: 'test-browser/1.0',
      },
    ]);
    const entitlement = await stack.db
      .selectFrom('entitlements')
      .select('last_download_at')
      .where('id', '=', rows.entitlements[0]!.id)
      .executeTakeFirstOrThrow();
    expect(entitlement.last_download_at).toBeInstanceOf(Date);
  });

  it('answer 403 once the purchase is refunded: revoking kills links already sent', async () => {
    const { paymentIntentId, rows, links } = await purchaseWithLinks();
    const refundId = stripeTestId('re');
    await postSignedEvent(
      stack.app,
      buildChargeRefundedEvent({ paymentIntentId, refundId, amountRefunded: 2900 }),
      stack.webhookSecret,
    );
    await stack.temporal.workflow.getHandle(refundWorkflowId(refundId)).result();

    const response = await click(links[0]!.path);
    expect(response.statusCode).toBe(403);
    expect(response.body).toContain('withdrawn');
    const events = await stack.db
      .selectFrom('download_events')
      .select('outcome')
      .where('entitlement_id', '=', rows.entitlements[0]!.id)
      .execute();
    expect(events).toEqual([{ outcome: 'revoked' }]);
  });

  it('answer 410 with a way to get a fresh link once expired, and 404 when tampered with', async () => {
    const { rows } = await purchaseWithLinks();
    const secret = stack.config.DOWNLOAD_TOKEN_SECRETS!;
    const expired = createDownloadToken(
      {
        entitlementId: rows.entitlements[0]!.id,
        format: 'pdf',
        expiresAt: new Date(Date.now() - 1000),
      },
      secret,
    );
    const gone = await click(`/downloads/${expired}`);
    expect(gone.statusCode).toBe(410);
    expect(gone.body).toContain('Sign in to your shelf');

    const forged = createDownloadToken(
      {
        entitlementId: rows.entitlements[0]!.id,
        format: 'pdf',
        expiresAt: new Date(Date.now() + 3_600_000),
      },
      [randomBytes(32).toString('hex')],
    );
    expect((await click(`/downloads/${forged}`)).statusCode).toBe(404);
    expect((await click('/downloads/not-a-token')).statusCode).toBe(404);
  });

  it('refuses a storage URL that was altered', async () => {
    const { links } = await purchaseWithLinks();
    const location = new URL((await click(links[0]!.path)).headers.location as string);
    const [body] = location.pathname.split('/').at(-1)!.split('.');
    expect((await click(`/storage/local/${body}.AAAA`)).statusCode).toBe(403);
  });
});
