import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashClaimToken } from '../../security/claim-tokens.ts';
import { waitFor } from '../../stack/processes.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { auditOf, jsonOf, OPERATOR_TOKENS, operators, ops, purchase } from './support.ts';

let stack: TestStack;
let sink: Awaited<ReturnType<typeof startSmtpSink>>;
let issuer: Awaited<ReturnType<typeof createTestIssuer>>;
beforeAll(async () => {
  sink = await startSmtpSink();
  issuer = await createTestIssuer();
  stack = await startTestStack({
    env: { OPERATOR_TOKENS, EMAIL_DRIVER: 'smtp', SMTP_URL: sink.url },
    app: { auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } },
  });
});
afterAll(async () => {
  await stack?.close();
  await sink?.close();
});

const as = ['--operator', 'dana', '--reason', 'ticket 5001: claim link lost'];

/** The claim tokens in the mails the SMTP server received for `recipient`, oldest first. */
function claimTokensMailedTo(recipient: string): string[] {
  return sink.received
    .filter((mail) => mail.to.includes(recipient))
    .flatMap((mail) => {
      // Quoted-printable soft line breaks may split a long URL.
      const body = mail.raw.replaceAll(/=\r?\n/g, '');
      const match = /\/claim\/([A-Za-z0-9_-]{43})/.exec(body);
      return match ? [match[1]!] : [];
    });
}

async function claimWith(token: string) {
  const jwt = await issuer.token({
    sub: `auth0|${randomBytes(6).toString('hex')}`,
    email: 'someone-else@example.com',
  });
  return stack.app.inject({
    method: 'POST',
    url: '/v1/claims',
    headers: { authorization: `Bearer ${jwt}` },
    payload: { token },
  });
}

describe('claim link reissue', () => {
  it('mails a fresh link, kills the older ones, is audited, and is refused past 3 an hour', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    await waitFor('the receipt over SMTP', async () => claimTokensMailedTo(email).length === 1);
    const [original] = claimTokensMailedTo(email);

    const [first] = jsonOf<{ recipient: string; sequence: number; expiredLinks: number }[]>(
      await ops(['claims', 'reissue', paymentIntentId, ...as, '--json']),
    );
    expect(first).toMatchObject({ recipient: email, sequence: 1, expiredLinks: 1 });
    await waitFor(
      'the claim-link email over SMTP',
      async () => claimTokensMailedTo(email).length === 2,
    );
    const reissued = claimTokensMailedTo(email)[1]!;
    expect(reissued).not.toBe(original);
    const mail = sink.received.filter((m) => m.to.includes(email)).at(-1)!;
    expect(mail.raw).toContain('Claim your library for order');

    // The old link is dead and answers like any invalid link.
    const old = await claimWith(original!);
    expect(old.statusCode).toBe(404);
    expect(old.json()).toEqual({ error: 'this claim link is not valid' });

    // Support (not only admins) reissues through the admin API: two more, then a clear refusal.
    const call = () =>
      stack.app.inject({
        method: 'POST',
        url: `/admin/claims/${paymentIntentId}/reissue`,
        headers: { authorization: `Bearer ${operators.support.token}` },
        payload: { reason: 'ticket 5001: still nothing' },
      });
    for (const sequence of [2, 3]) {
      const response = await call();
      expect(response.statusCode).toBe(202);
      expect(response.json()).toMatchObject({ sequence, recipient: email });
    }
    const refused = await call();
    expect(refused.statusCode).toBe(429);
    expect(refused.json<{ error: string }>().error).toMatch(
      /^too many claim links: 3 an hour per buyer were sent already; try again in \d+ minute/,
    );
    const cli = await ops(['claims', 'reissue', paymentIntentId, ...as]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('too many claim links');

    await waitFor('three claim-link emails', async () => claimTokensMailedTo(email).length === 4);
    // Exactly one link works — one of the reissued ones — whatever order the emails rendered in.
    const rows = await purchaseRows(stack.db, paymentIntentId);
    const live = await stack.db
      .selectFrom('claim_tokens')
      .select('token_hash')
      .where('customer_id', '=', rows.orders[0]!.customer_id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', new Date())
      .execute();
    expect(live).toHaveLength(1);
    const tokens = claimTokensMailedTo(email);
    const working = tokens.filter((t) => hashClaimToken(t) === live[0]!.token_hash);
    expect(working).toHaveLength(1);
    expect(tokens.indexOf(working[0]!)).toBeGreaterThan(0);
    for (const dead of tokens.filter((t) => t !== working[0]))
      expect((await claimWith(dead)).statusCode).toBe(404);
    expect((await claimWith(working[0]!)).json()).toEqual({ claimed: 1 });

    expect(rows.emails.map((e) => [e.kind, e.status])).toEqual([
      ['delivery', 'sent'],
      ['claim_link', 'sent'],
      ['claim_link', 'sent'],
      ['claim_link', 'sent'],
    ]);
    const audit = (await auditOf(stack, rows.orders[0]!.id)).filter(
      (a) => a.action === 'claim_link.reissued',
    );
    expect(audit.map((a) => [a.actor, a.reason])).toEqual([
      ['dana', 'ticket 5001: claim link lost'],
      ['bob', 'ticket 5001: still nothing'],
      ['bob', 'ticket 5001: still nothing'],
    ]);
    // Four CLI processes and four emails over SMTP: minutes on a loaded machine.
  }, 180_000);

  it('refuses a purchase already on an account, and names a missing reason', async () => {
    const { paymentIntentId, email } = await purchase(stack);
    const jwt = await issuer.token({
      sub: `auth0|${randomBytes(6).toString('hex')}`,
      email,
      email_verified: true,
    });
    const claimed = await stack.app.inject({
      method: 'POST',
      url: '/v1/claims',
      headers: { authorization: `Bearer ${jwt}` },
      payload: {},
    });
    expect(claimed.json()).toEqual({ claimed: 1 });
    const conflict = await stack.app.inject({
      method: 'POST',
      url: `/admin/claims/${paymentIntentId}/reissue`,
      headers: { authorization: `Bearer ${operators.support.token}` },
      payload: { reason: 'ticket 5002' },
    });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json<{ error: string }>().error).toMatch(/already on an account/);
    const noReason = await stack.app.inject({
      method: 'POST',
      url: `/admin/claims/${paymentIntentId}/reissue`,
      headers: { authorization: `Bearer ${operators.support.token}` },
      payload: {},
    });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json<{ error: string }>().error).toMatch(/reason/);
  });
});
