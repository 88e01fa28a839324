import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTemporaryDownloadToken } from '../../security/download-links.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { auditOf, jsonOf, OPERATOR_TOKENS, operators, ops, purchase } from './support.ts';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { OPERATOR_TOKENS } });
});
afterAll(async () => {
  await stack?.close();
});

const as = ['--operator', 'dana', '--reason', 'ticket 6001: mailbox blocks our emails'];
const admin = (url: string, payload: object) =>
  stack.app.inject({
    method: 'POST',
    url,
    headers: { authorization: `Bearer ${operators.support.token}` },
    payload,
  });
/** A click on a link, as the buyer's browser makes it: the download route, then storage. */
async function click(url: string) {
  const response = await stack.app.inject({ method: 'GET', url: new URL(url).pathname });
  if (response.statusCode !== 302) return { status: response.statusCode, body: response.body };
  const file = await stack.app.inject({
    method: 'GET',
    url: new URL(response.headers.location!).pathname,
  });
  return { status: file.statusCode, body: file.headers['content-disposition'] ?? '' };
}

interface Link {
  linkId: string;
  entitlementId: string;
  expiresAt: string;
  urls: { format: string; url: string }[];
}

describe('temporary download links', () => {
  it('issues a 24 h link by default that downloads through the buyer’s path, audited, and revokes it', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [entitlement] = (await purchaseRows(stack.db, paymentIntentId)).entitlements;
    const before = Date.now();
    const [link] = jsonOf<Link[]>(
      await ops(['downloads', 'link', entitlement!.id, ...as, '--json']),
    );
    const hours = (new Date(link!.expiresAt).getTime() - before) / 3_600_000;
    expect(hours).toBeGreaterThan(23.9);
    expect(hours).toBeLessThan(24.1);
    expect(link!.urls.map((u) => u.format)).toEqual(['pdf', 'epub']);
    expect(link!.urls[0]!.url).toMatch(/\/downloads\/[A-Za-z0-9_-]{51}$/);
    expect(await click(link!.urls[0]!.url)).toEqual({
      status: 200,
      body: 'attachment; filename="durable-execution-v1.pdf"',
    });
    const downloads = await stack.db
      .selectFrom('download_events')
      .select(['outcome'])
      .where('entitlement_id', '=', entitlement!.id)
      .execute();
    expect(downloads.map((d) => d.outcome)).toEqual(['issued']);

    const revoked = await admin(`/admin/download-links/${link!.linkId}/revoke`, {
      reason: 'ticket 6001: buyer got the file',
    });
    expect(revoked.statusCode).toBe(200);
    const after = await click(link!.urls[1]!.url);
    expect(after.status).toBe(410);
    expect(after.body).toContain('This link was withdrawn');

    const audit = await auditOf(stack, entitlement!.id);
    expect(audit.map((a) => [a.action, a.actor, a.reason])).toEqual([
      ['download_link.issued', 'dana', 'ticket 6001: mailbox blocks our emails'],
      ['download_link.revoked', 'bob', 'ticket 6001: buyer got the file'],
    ]);
  });

  it('takes an operator-chosen expiry up to 7 days and refuses more with a 400 naming the field', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [entitlement] = (await purchaseRows(stack.db, paymentIntentId)).entitlements;
    const week = await admin(`/admin/entitlements/${entitlement!.id}/download-link`, {
      expires_in_hours: 168,
      reason: 'ticket 6002: traveling',
    });
    expect(week.statusCode).toBe(201);
    const hours = (new Date(week.json<Link>().expiresAt).getTime() - Date.now()) / 3_600_000;
    expect(Math.round(hours)).toBe(168);
    const tooLong = await admin(`/admin/entitlements/${entitlement!.id}/download-link`, {
      expires_in_hours: 169,
      reason: 'ticket 6002: traveling',
    });
    expect(tooLong.statusCode).toBe(400);
    expect(tooLong.json<{ error: string }>().error).toContain('expires_in_hours');
    const cli = await ops([
      'downloads',
      'link',
      entitlement!.id,
      '--expires-in-hours',
      '200',
      ...as,
    ]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('expires_in_hours: at most 168 (7 days)');
  });

  it('checks every click: an expired link and a revoked entitlement are refused', async () => {
    const { paymentIntentId } = await purchase(stack);
    const [entitlement] = (await purchaseRows(stack.db, paymentIntentId)).entitlements;
    const [link] = jsonOf<Link[]>(
      await ops(['downloads', 'link', entitlement!.id, '--expires-in-hours', '1', ...as, '--json']),
    );
    // The same link id signed with a past expiry: the signed expiry is checked too.
    const expired = createTemporaryDownloadToken(
      { linkId: link!.linkId, format: 'pdf', expiresAt: new Date(Date.now() - 1000) },
      stack.config.DOWNLOAD_TOKEN_SECRETS!,
    );
    const old = await click(`http://x/downloads/${expired}`);
    expect(old.status).toBe(410);
    expect(old.body).toContain('temporary link has expired');
    // The row's expiry, when it ends before the signed one.
    await stack.db
      .updateTable('temporary_download_links')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', link!.linkId)
      .execute();
    expect((await click(link!.urls[0]!.url)).status).toBe(410);
    await stack.db
      .updateTable('temporary_download_links')
      .set({ expires_at: new Date(Date.now() + 3_600_000) })
      .where('id', '=', link!.linkId)
      .execute();
    expect((await click(link!.urls[0]!.url)).status).toBe(200);

    expect((await ops(['entitlements', 'revoke', paymentIntentId, '--no-email', ...as])).code).toBe(
      0,
    );
    const refused = await click(link!.urls[0]!.url);
    expect(refused.status).toBe(403);
    expect(refused.body).toContain('Download unavailable');
    // And no new link for a revoked entitlement.
    const none = await admin(`/admin/entitlements/${entitlement!.id}/download-link`, {
      reason: 'ticket 6003',
    });
    expect(none.statusCode).toBe(409);
    expect(none.json<{ error: string }>().error).toBe('no download link: access is revoked');
  });
});
