import http from 'node:http';
import { listenOnLoopback } from './processes.ts';

/**
 * A stand-in for Segment's HTTP Tracking API batch endpoint (the SaaS cannot run here),
 * implementing what Segment documents for `POST /v1/batch` and nothing more
 * (segment.com/docs/connections/sources/catalog/libraries/server/http-api):
 *
 * - authentication by the source's write key, as HTTP Basic user name (`writeKey:` base64) or
 *   as `writeKey` in the body;
 * - `Content-Type: application/json`; invalid JSON and bodies over 500 KB answer 400;
 * - everything else answers 200 — and Segment then drops, without saying so, a batch of more
 *   than 2,500 calls, a call over 32 KB, a call without `type`, without `userId` or
 *   `anonymousId`, a track call without `event`, and a call whose `messageId` (under 100
 *   characters) it has seen before (deduplication);
 * - rate limiting answers 429 with `Retry-After` and `X-RateLimit-Reset` (seconds).
 *
 * What Segment drops silently is kept here in `rejected`, with the reason, so tests can prove
 * our exporter never sends such calls. test/analytics/segment-contract.test.ts pins both.
 */
export interface SegmentStandIn {
  url: string;
  /** The write key it accepts. */
  writeKey: string;
  /** Every call accepted, in order. */
  accepted: SegmentCall[];
  /** Every call Segment would drop, with why. */
  rejected: { call: unknown; reason: string }[];
  /** Every request as received. */
  requests: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[];
  /** Answer the next `count` batches with `status` (429 adds Retry-After: 1). */
  failNext(count: number, status: 429 | 500 | 503): void;
  close(): Promise<void>;
}

export interface SegmentCall {
  type: string;
  event?: string;
  userId?: string;
  anonymousId?: string;
  messageId?: string;
  timestamp?: string;
  properties?: Record<string, unknown>;
  [key: string]: unknown;
}

const BATCH_BYTES = 500 * 1024;
const CALL_BYTES = 32 * 1024;
const CALLS_PER_BATCH = 2_500;
const MESSAGE_ID_LENGTH = 100;
const CALL_TYPES = new Set(['identify', 'track', 'page', 'screen', 'group', 'alias']);

export async function startSegmentStandIn({
  writeKey = 'segment-write-key-stand-in',
}: { writeKey?: string } = {}): Promise<SegmentStandIn> {
  const accepted: SegmentCall[] = [];
  const rejected: SegmentStandIn['rejected'] = [];
  const requests: SegmentStandIn['requests'] = [];
  const seenMessageIds = new Set<string>();
  const failures: number[] = [];

  const whyRejected = (call: unknown): string | null => {
    if (typeof call !== 'object' || call === null) return 'not an object';
    const c = call as SegmentCall;
    if (Buffer.byteLength(JSON.stringify(call)) > CALL_BYTES) return 'call over 32 KB';
    if (typeof c.type !== 'string' || !CALL_TYPES.has(c.type)) return 'no valid type';
    if (!c.userId && !c.anonymousId) return 'no_user_anon_id';
    if (c.type === 'track' && !c.event) return 'track call without event';
    if (typeof c.messageId === 'string' && c.messageId.length >= MESSAGE_ID_LENGTH)
      return 'messageId of 100 characters or more';
    if (typeof c.messageId === 'string' && seenMessageIds.has(c.messageId))
      return 'duplicate messageId';
    return null;
  };

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = raw.toString('utf8');
      requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body,
      });
      const reply = (status: number, answer: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(JSON.stringify(answer));
      };
      if (request.method !== 'POST' || request.url !== '/v1/batch')
        return reply(404, { success: false, message: 'not found' });
      const failure = failures.shift();
      if (failure === 429)
        return reply(429, { success: false }, { 'retry-after': '1', 'x-ratelimit-reset': '1' });
      if (failure) return reply(failure, { success: false });
      if (raw.length > BATCH_BYTES) return reply(400, { success: false, message: 'too large' });
      let parsed: { batch?: unknown; writeKey?: unknown };
      try {
        parsed = JSON.parse(body) as typeof parsed;
      } catch {
        return reply(400, { success: false, message: 'invalid JSON' });
      }
      const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      const keyGiven = basic
        ? Buffer.from(basic, 'base64').toString('utf8').replace(/:$/, '')
        : parsed.writeKey;
      const calls = Array.isArray(parsed.batch) ? parsed.batch : [];
      const batchProblem =
        keyGiven !== writeKey
          ? 'unknown write key'
          : !(request.headers['content-type'] ?? '').startsWith('application/json')
            ? 'not application/json'
            : calls.length > CALLS_PER_BATCH
              ? 'more than 2,500 calls in a batch'
              : null;
      for (const call of calls) {
        const reason = batchProblem ?? whyRejected(call);
        if (reason) {
          rejected.push({ call, reason });
          continue;
        }
        const c = call as SegmentCall;
        if (c.messageId) seenMessageIds.add(c.messageId);
        accepted.push(c);
      }
      return reply(200, { success: true });
    });
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    writeKey,
    accepted,
    rejected,
    requests,
    failNext(count, status) {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
