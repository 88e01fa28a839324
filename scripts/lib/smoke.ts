// The end-to-end smoke of a running stack, over its public HTTP surface only: a signed purchase
// webhook, the receipt (the admin timeline, and the email itself where the api's dev outbox
// shows it), the claim of a guest purchase, the shelf and a download — each step timed, the
// whole walk held to one SLA. `scripts/smoke.ts` is the command; the test drives this too.
import { randomBytes } from 'node:crypto';
import { buildPaymentIntentSucceededEvent, signStripePayload } from '../../stack/stripe-events.ts';

export interface SmokeOptions {
  /** The api's base URL (`http://127.0.0.1:3000`). */
  baseUrl: string;
  /** One of the api's STRIPE_WEBHOOK_SECRETS: the smoke signs its event as Stripe would. */
  webhookSecret: string;
  /** An operator token (support role is enough): the receipt is read from the admin timeline. */
  operatorToken: string;
  /** A storefront JWT of the smoke's account: its `sub` owns the purchase, its `email` gets it. */
  userToken: string;
  /** Buy as a guest under the account's email, then claim the purchase into the account. */
  claim: boolean;
  skus: string[];
  /** The whole walk, purchase to downloaded file, must finish within this. */
  slaMs: number;
  pollIntervalMs?: number;
}

export interface SmokeStep {
  step: string;
  /** Milliseconds since the purchase was sent. */
  atMs: number;
  /** Milliseconds this step took. */
  ms: number;
  detail: string;
}

export interface SmokeResult {
  ok: boolean;
  paymentIntentId: string;
  steps: SmokeStep[];
  /** The step that failed and why, when `ok` is false. */
  failure: { step: string; reason: string } | null;
  totalMs: number;
}

class StepFailed extends Error {}

/** The `sub` and `email` of a JWT's payload (not verified: the api does that). */
export function tokenClaims(token: string): { sub: string; email: string | null } {
  const payload = token.split('.')[1];
  if (!payload) throw new Error('the user token is not a JWT');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as {
    sub?: unknown;
    email?: unknown;
  };
  if (typeof claims.sub !== 'string' || claims.sub === '')
    throw new Error('the user token has no sub');
  return { sub: claims.sub, email: typeof claims.email === 'string' ? claims.email : null };
}

interface TimelineJob {
  status: string | null;
  lastError: string | null;
  customerStatus: string;
  orderId: string;
  timeline: { source: string; event: string }[];
}

interface ShelfItem {
  id: string;
  sku: string;
  status: string;
  downloadable: boolean;
  formats: string[];
}

interface RecordedMessage {
  kind: string;
  order_id: string | null;
  text: string;
}

/** Walks one purchase through the stack; never throws for a failed step (see `failure`). */
export async function runSmoke(options: SmokeOptions): Promise<SmokeResult> {
  const base = options.baseUrl.replace(/\/$/, '');
  const poll = options.pollIntervalMs ?? 250;
  const account = tokenClaims(options.userToken);
  if (!account.email) throw new Error('the user token has no email claim');
  const paymentIntentId = `pi_smoke_${randomBytes(10).toString('hex')}`;
  const started = Date.now();
  const deadline = started + options.slaMs;
  const steps: SmokeStep[] = [];
  let stepStarted = started;
  const done = (step: string, detail: string) => {
    const now = Date.now();
    steps.push({ step, atMs: now - started, ms: now - stepStarted, detail });
    stepStarted = now;
  };

  const call = async (path: string, init: RequestInit & { token?: string } = {}) => {
    const { token, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (token) headers.set('authorization', `Bearer ${token}`);
    return fetch(`${base}${path}`, { ...rest, headers, signal: AbortSignal.timeout(10_000) });
  };
  const json = async <T>(response: Response, what: string): Promise<T> => {
    if (!response.ok)
      throw new StepFailed(
        `${what}: HTTP ${response.status} ${(await response.text()).slice(0, 300)}`,
      );
    return (await response.json()) as T;
  };
  /** Polls `check` until it returns a value, or the SLA runs out (`last` says what was seen). */
  const until = async <T>(what: string, check: () => Promise<T | null>): Promise<T> => {
    let last = 'nothing yet';
    for (;;) {
      try {
        const value = await check();
        if (value !== null) return value;
      } catch (error) {
        if (error instanceof StepFailed) throw error;
        last = error instanceof Error ? error.message : String(error);
      }
      if (Date.now() >= deadline)
        throw new StepFailed(
          `${what} not seen within the SLA (${options.slaMs} ms); last: ${last}`,
        );
      await new Promise((resolve) => setTimeout(resolve, poll));
    }
  };

  let current = 'purchase webhook';
  try {
    // 1. The purchase, as Stripe would deliver it.
    const event = buildPaymentIntentSucceededEvent({
      paymentIntentId,
      skus: options.skus,
      email: account.email,
      ...(options.claim ? {} : { userId: account.sub }),
    });
    const payload = JSON.stringify(event);
    const ack = await call('/webhooks/stripe', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'stripe-signature': signStripePayload(payload, options.webhookSecret),
      },
      body: payload,
    });
    const acknowledged = await json<{ duplicate?: boolean }>(ack, 'the webhook was refused');
    if (acknowledged.duplicate) throw new StepFailed('the webhook was taken for a duplicate');
    done(current, `${ack.status} for ${event.id}`);

    // 2. The receipt: sent, as the admin timeline records it.
    current = 'receipt sent';
    const job = await until('a sent receipt', async () => {
      const response = await call(`/admin/jobs/${paymentIntentId}`, {
        token: options.operatorToken,
      });
      if (response.status === 404) return null;
      const timeline = await json<TimelineJob>(response, 'the admin timeline');
      if (timeline.status === 'needs_attention')
        throw new StepFailed(`the fulfillment needs attention: ${timeline.lastError ?? ''}`);
      const sent = timeline.timeline.some(
        (entry) => entry.source === 'email' && /^delivery (sent|delivered)$/.test(entry.event),
      );
      if (!sent) throw new Error(`fulfillment ${timeline.status ?? 'not started'}, no receipt yet`);
      return timeline;
    });
    done(current, `fulfillment ${job.status}, receipt to ${account.email}`);

    // 3. The email itself, where the api shows what it recorded (EMAIL_DRIVER=outbox).
    current = 'receipt links';
    const since = new Date(started - 60_000).toISOString();
    const mailbox = await call(
      `/dev/outbox.json?to=${encodeURIComponent(account.email)}&since=${encodeURIComponent(since)}`,
    );
    let receipt: RecordedMessage | undefined;
    if (mailbox.ok) {
      const { messages } = (await mailbox.json()) as { messages: RecordedMessage[] };
      receipt = messages.find((m) => m.kind === 'delivery' && m.order_id === job.orderId);
      if (!receipt) throw new StepFailed('the receipt is not in the dev outbox');
      const links = [...receipt.text.matchAll(/^\s+(PDF|EPUB): (\S+)$/gm)];
      if (links.length === 0) throw new StepFailed('the receipt carries no download link');
      done(current, `${links.length} link(s) in the receipt`);
    } else {
      done(current, 'skipped: the api shows no dev outbox (real email); read the inbox by hand');
    }

    // 4. The claim (guest purchases): the claim link's token where the receipt could be read,
    // else the account's verified email.
    if (options.claim) {
      current = 'claim';
      if (job.customerStatus !== 'pending_claim')
        throw new StepFailed(`the guest purchase is ${job.customerStatus}, not pending_claim`);
      const token = receipt ? /\/claim\/([A-Za-z0-9_-]+)/.exec(receipt.text)?.[1] : undefined;
      if (receipt && !token) throw new StepFailed('the receipt carries no claim link');
      const claimed = await json<{ claimed: number }>(
        await call('/v1/claims', {
          method: 'POST',
          token: options.userToken,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(token ? { token } : {}),
        }),
        'the claim was refused',
      );
      if (claimed.claimed < 1) throw new StepFailed('the claim took no purchase');
      done(current, `${claimed.claimed} purchase(s) by ${token ? 'claim link' : 'verified email'}`);
    }

    // 5. The shelf: every SKU downloadable on the account.
    current = 'shelf';
    const items = await until('the purchase on the shelf', async () => {
      const shelf = await json<{ items: ShelfItem[] }>(
        await call('/v1/entitlements?limit=100', { token: options.userToken }),
        'the shelf',
      );
      const ours = options.skus.map((sku) =>
        shelf.items.find((item) => item.sku === sku && item.downloadable),
      );
      if (ours.some((item) => !item))
        throw new Error(
          `shelf holds ${shelf.items.map((i) => `${i.sku}:${i.status}`).join(', ') || 'nothing'}`,
        );
      return ours as ShelfItem[];
    });
    done(current, items.map((item) => `${item.sku} ${item.status}`).join(', '));

    // 6. A download: a fresh URL from the shelf, then the file itself.
    current = 'download';
    const first = items[0]!;
    const format = first.formats.includes('pdf') ? 'pdf' : first.formats[0]!;
    const issued = await json<{ url: string }>(
      await call(`/v1/entitlements/${first.id}/download-url`, {
        method: 'POST',
        token: options.userToken,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ format }),
      }),
      'no download URL',
    );
    const file = await fetch(issued.url, { signal: AbortSignal.timeout(30_000) });
    const bytes = (await file.arrayBuffer()).byteLength;
    if (!file.ok || bytes === 0)
      throw new StepFailed(`the file answered HTTP ${file.status} with ${bytes} bytes`);
    done(current, `${first.sku} ${format.toUpperCase()}, ${bytes} bytes`);

    const totalMs = Date.now() - started;
    if (totalMs > options.slaMs)
      return {
        ok: false,
        paymentIntentId,
        steps,
        failure: { step: 'SLA', reason: `${totalMs} ms > ${options.slaMs} ms` },
        totalMs,
      };
    return { ok: true, paymentIntentId, steps, failure: null, totalMs };
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      paymentIntentId,
      steps,
      failure: { step: current, reason },
      totalMs: Date.now() - started,
    };
  }
}
