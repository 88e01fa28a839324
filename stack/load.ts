import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { signStripePayload } from './stripe-events.ts';

/** Where the api takes Stripe's webhooks. */
export const STRIPE_WEBHOOK_PATH = '/webhooks/stripe';

export interface LoadRequest {
  body: string;
  headers: Record<string, string>;
  /** Where this request goes, when not to the load's `url` (interleaving two endpoints). */
  url?: string;
}

/** A webhook delivery as Stripe sends it: the JSON body and a fresh `Stripe-Signature`. */
export function signedWebhookRequest(payload: string, secret: string): LoadRequest {
  return {
    body: payload,
    headers: {
      'content-type': 'application/json',
      'stripe-signature': signStripePayload(payload, secret),
    },
  };
}

/** Posts a raw body with a Stripe-Signature header; the status, or null without an answer. */
export async function postWebhook(
  apiUrl: string,
  payload: string,
  signature: string,
): Promise<number | null> {
  try {
    const response = await fetch(`${apiUrl}${STRIPE_WEBHOOK_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': signature },
      body: payload,
      // Past the api's own Temporal deadline (5 s) and a stalled database connection.
      signal: AbortSignal.timeout(20_000),
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return null;
  }
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(lanes);
  return results;
}

export interface LoadSample {
  index: number;
  /** HTTP status, or null when the request failed without a response. */
  status: number | null;
  error: string | null;
  /** From the moment the request was written to the end of the response body. */
  latencyMs: number;
  /** Wall-clock time (epoch ms) the response body ended, comparable with database timestamps. */
  answeredAt: number;
  /** How late the request left compared with its place on the schedule. */
  sendLagMs: number;
  body: string;
}

export interface OpenLoadOptions {
  label: string;
  url: string;
  ratePerSecond: number;
  durationSeconds: number;
  buildRequest(index: number): LoadRequest;
  signal: AbortSignal;
  /** Print a progress line through `log` this often; silent when omitted. */
  report?: { everySeconds: number; log: (message: string) => void };
}

// A response slower than this is a failure, not a latency: it would otherwise hold the run open.
const REQUEST_TIMEOUT_MS = 30_000;

function postOnce(
  agent: http.Agent,
  url: URL,
  request: LoadRequest,
): Promise<Omit<LoadSample, 'index' | 'sendLagMs'>> {
  return new Promise((resolve) => {
    const sentAt = performance.now();
    const finish = (status: number | null, error: string | null, body: string): void =>
      resolve({
        status,
        error,
        body,
        latencyMs: performance.now() - sentAt,
        answeredAt: Date.now(),
      });
    const outgoing = http.request(
      url,
      {
        agent,
        method: 'POST',
        headers: { ...request.headers, 'content-length': Buffer.byteLength(request.body) },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          finish(response.statusCode ?? null, null, Buffer.concat(chunks).toString('utf8')),
        );
        response.on('error', (error) => finish(null, error.message, ''));
      },
    );
    outgoing.on('timeout', () => outgoing.destroy(new Error('timed out')));
    outgoing.on('error', (error) => finish(null, error.message, ''));
    outgoing.end(request.body);
  });
}

/**
 * Open-loop load: request `i` leaves at `start + i / rate` whether or not earlier ones have
 * been answered, so a slow server meets the same arrival rate instead of slowing the client
 * down (which would hide its latency). Stops scheduling when `signal` aborts.
 */
export async function runOpenLoad(options: OpenLoadOptions): Promise<LoadSample[]> {
  const url = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true });
  const total = Math.round(options.ratePerSecond * options.durationSeconds);
  const intervalMs = 1000 / options.ratePerSecond;
  const samples: LoadSample[] = [];
  const pending: Promise<void>[] = [];
  const startedAt = performance.now();
  const { report } = options;
  const reporter = report
    ? setInterval(
        () => report.log(describeLoadProgress(options, samples, pending.length, startedAt)),
        report.everySeconds * 1000,
      )
    : null;
  try {
    for (let index = 0; index < total && !options.signal.aborted; index += 1) {
      const dueAt = startedAt + index * intervalMs;
      const waitMs = dueAt - performance.now();
      if (waitMs > 0) await sleep(waitMs);
      const request = options.buildRequest(index);
      const sendLagMs = Math.max(0, performance.now() - dueAt);
      pending.push(
        postOnce(agent, request.url ? new URL(request.url) : url, request).then((sample) => {
          samples.push({ ...sample, index, sendLagMs });
        }),
      );
    }
    await Promise.all(pending);
  } finally {
    if (reporter) clearInterval(reporter);
    agent.destroy();
  }
  return samples.sort((a, b) => a.index - b.index);
}

function describeLoadProgress(
  options: OpenLoadOptions,
  samples: readonly LoadSample[],
  sent: number,
  startedAt: number,
): string {
  const elapsed = (performance.now() - startedAt) / 1000;
  const failed = samples.filter((sample) => !isSuccess(sample)).length;
  return (
    `${options.label}: ${elapsed.toFixed(0)} s of ${options.durationSeconds} s, ${sent} sent, ` +
    `${samples.length} answered, ${failed} non-2xx or failed`
  );
}

export const isSuccess = (sample: LoadSample): boolean =>
  sample.status !== null && sample.status >= 200 && sample.status < 300;
