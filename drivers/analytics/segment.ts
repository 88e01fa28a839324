import { createHash } from 'node:crypto';
import { analyticsExports } from '../../observability/metrics.ts';

/**
 * Segment's HTTP Tracking API (`POST /v1/batch`), as documented
 * (segment.com/docs/connections/sources/catalog/libraries/server/http-api): JSON bodies, HTTP
 * Basic auth with the source's write key as the user name and an empty password, at most
 * 500 KB and 2,500 calls per batch and 32 KB per call, `messageId` (under 100 characters) for
 * deduplication, and a `userId` or `anonymousId` on every call. Segment answers 200 to
 * everything but malformed or oversized bodies (400) and rate limiting (429 with Retry-After),
 * so limits are enforced here, before sending. stack/segment-stand-in.ts implements the same
 * contract; test/analytics/segment-contract.test.ts pins both.
 */
export const SEGMENT_LIMITS = {
  batchBytes: 500 * 1024,
  callBytes: 32 * 1024,
  callsPerBatch: 2_500,
  messageIdLength: 100,
} as const;

/** An analytics event as the outbox carries it (an `analytics_events` row, as JSON). */
export interface ExportedAnalyticsEvent {
  event_key: string;
  name: string;
  customer_id: string | null;
  order_id: string | null;
  entitlement_id: string | null;
  product_id: string | null;
  properties: Record<string, unknown> | null;
  created_at: string | Date;
}

/** A Segment `track` call. */
export interface SegmentTrackCall {
  type: 'track';
  event: string;
  messageId: string;
  timestamp: string;
  userId?: string;
  anonymousId?: string;
  properties: Record<string, unknown>;
}

/**
 * The track call for one event: the event's name as is, the customer as `userId` (our id,
 * never an email), a `messageId` derived from the event key (so a redelivered batch is
 * deduplicated by Segment), and every id the event names among its properties.
 */
export function segmentTrackCall(event: ExportedAnalyticsEvent): SegmentTrackCall {
  const messageId = createHash('sha256').update(event.event_key).digest('hex');
  return {
    type: 'track',
    event: event.name,
    messageId,
    timestamp: new Date(event.created_at).toISOString(),
    // Segment needs one of the two; an event about no customer is tied to itself.
    ...(event.customer_id ? { userId: event.customer_id } : { anonymousId: messageId }),
    properties: {
      ...event.properties,
      customer_id: event.customer_id,
      order_id: event.order_id,
      entitlement_id: event.entitlement_id,
      product_id: event.product_id,
    },
  };
}

const bytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));

/** Splits calls into batches within Segment's count and size limits (a margin for the wrapper). */
export function segmentBatches(calls: readonly SegmentTrackCall[]): SegmentTrackCall[][] {
  const limit = SEGMENT_LIMITS.batchBytes - 1024;
  const batches: SegmentTrackCall[][] = [];
  let current: SegmentTrackCall[] = [];
  let size = 0;
  for (const call of calls) {
    const callSize = bytes(call) + 1;
    if (
      current.length > 0 &&
      (current.length >= SEGMENT_LIMITS.callsPerBatch || size + callSize > limit)
    ) {
      batches.push(current);
      current = [];
      size = 0;
    }
    current.push(call);
    size += callSize;
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

export interface SegmentExporterOptions {
  /** The Segment source's write key (SEGMENT_WRITE_KEY). */
  writeKey: string;
  /** SEGMENT_API_URL: https://api.segment.io (or events.eu1.segmentapis.com for EU workspaces). */
  baseUrl: string;
  /** How long one request may take before it counts as failed (and is retried). */
  timeoutMs?: number;
}

/**
 * Delivers one outbox message of analytics events to Segment, in as many batch requests as the
 * limits need. Throws when Segment does not take a batch (429, 5xx, a timeout, a 400): the
 * outbox retries the whole message later, and Segment drops the calls it already has by
 * `messageId`. A call over 32 KB can never be accepted: it is dropped and logged, not retried.
 */
export function createSegmentExporter(options: SegmentExporterOptions) {
  const url = new URL('/v1/batch', options.baseUrl);
  const authorization = `Basic ${Buffer.from(`${options.writeKey}:`).toString('base64')}`;
  const timeoutMs = options.timeoutMs ?? 10_000;

  return async function exportToSegment(payload: unknown): Promise<void> {
    const events = (payload as { events?: ExportedAnalyticsEvent[] }).events ?? [];
    const calls: SegmentTrackCall[] = [];
    for (const event of events.map(segmentTrackCall)) {
      if (bytes(event) > SEGMENT_LIMITS.callBytes) {
        analyticsExports.inc({ sink: 'segment', result: 'dropped' });
        console.warn(
          JSON.stringify({
            level: 'warn',
            msg: 'analytics event over 32 KB dropped',
            event: event.event,
            messageId: event.messageId,
          }),
        );
      } else calls.push(event);
    }
    for (const batch of segmentBatches(calls)) {
      let response: Response;
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization },
          body: JSON.stringify({ batch, sentAt: new Date().toISOString() }),
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (error) {
        analyticsExports.inc({ sink: 'segment', result: 'failed' }, batch.length);
        throw new Error(`segment did not answer: ${String(error)}`, { cause: error });
      }
      if (!response.ok) {
        analyticsExports.inc({ sink: 'segment', result: 'failed' }, batch.length);
        const body = (await response.text().catch(() => '')).slice(0, 200);
        const retryAfter = response.headers.get('retry-after');
        throw new Error(
          `segment answered ${response.status}${retryAfter ? ` (retry after ${retryAfter} s)` : ''}: ${body}`,
        );
      }
      await response.body?.cancel();
      analyticsExports.inc({ sink: 'segment', result: 'exported' }, batch.length);
    }
  };
}
