import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A stand-in for Resend's `POST /emails` (the SaaS API cannot run here), implementing what
 * Resend documents and nothing more: Bearer `re_…` keys, JSON bodies with from / to /
 * subject / html|text, `{ id }` on success, `{ statusCode, name, message }` errors, 429
 * `rate_limit_exceeded` with Retry-After, and Idempotency-Key semantics (the same key and
 * payload within 24 h returns the first response and sends nothing; another payload → 409
 * `invalid_idempotent_request`; keys up to 256 characters). test/email/resend-contract.test.ts
 * pins both this stand-in and our driver to that contract.
 */
export interface ResendStandIn {
  url: string;
  /** Every accepted (really "sent") email, in order. */
  sent: { id: string; body: Record<string, unknown>; idempotencyKey: string | null }[];
  /** Every request as received, for asserting what our driver sends. */
  requests: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string }[];
  /** Answer the next `count` sends with `status` (429 adds Retry-After: `retryAfter`). */
  failNext(count: number, status: 429 | 500 | 503, retryAfter?: number): void;
  /**
   * Time out the next `count` sends: hold each request `afterMs`, then drop the connection
   * without an answer. With `accept`, the message is sent (recorded) first — the answer lost
   * on its way back, the case the Idempotency-Key exists for.
   */
  timeOutNext(count: number, options: { afterMs: number; accept: boolean }): void;
  /** Back to normal: drop every queued failure. */
  recover(): void;
  close(): Promise<void>;
}

const errorNames: Record<number, string> = {
  429: 'rate_limit_exceeded',
  500: 'internal_server_error',
  503: 'internal_server_error',
};

export interface ResendStandInOptions {
  /**
   * Runs after a message was sent (recorded in `sent`) and before the answer leaves — e.g. to
   * kill the client that is waiting for it.
   */
  beforeAnswer?: (message: ResendStandIn['sent'][number]) => Promise<void> | void;
}

type QueuedFailure =
  | { status: number; retryAfter?: number | undefined }
  | { timeout: { afterMs: number; accept: boolean } };

export async function startResendStandIn(
  options: ResendStandInOptions = {},
): Promise<ResendStandIn> {
  const sent: ResendStandIn['sent'] = [];
  const requests: ResendStandIn['requests'] = [];
  const byKey = new Map<string, { payload: string; id: string }>();
  const failures: QueuedFailure[] = [];

  const server = http.createServer((request, response) => {
    let raw = '';
    request.on('data', (chunk: Buffer) => (raw += chunk.toString('utf8')));
    request.on('end', () => {
      requests.push({
        method: request.method ?? '',
        path: request.url ?? '',
        headers: request.headers,
        body: raw,
      });
      const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
        response.writeHead(status, { 'content-type': 'application/json', ...headers });
        response.end(JSON.stringify(body));
      };
      const error = (
        statusCode: number,
        name: string,
        message: string,
        headers?: Record<string, string>,
      ) => reply(statusCode, { statusCode, name, message }, headers);

      if (request.method !== 'POST' || request.url !== '/emails')
        return error(404, 'not_found', 'not found');
      if (!/^Bearer re_\w+/.test(request.headers.authorization ?? ''))
        return error(401, 'missing_api_key', 'Missing API key in the authorization header.');
      const failure = failures.shift();
      const dropAnswer = (): void => {
        if (!failure || !('timeout' in failure)) return;
        setTimeout(() => request.socket.destroy(), failure.timeout.afterMs).unref();
      };
      if (failure && 'timeout' in failure && !failure.timeout.accept) return dropAnswer();
      if (failure && 'status' in failure) {
        return error(
          failure.status,
          errorNames[failure.status] ?? 'application_error',
          'simulated outage',
          failure.retryAfter === undefined ? {} : { 'retry-after': String(failure.retryAfter) },
        );
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        return error(422, 'validation_error', 'Invalid JSON');
      }
      for (const field of ['from', 'to', 'subject']) {
        if (!body[field])
          return error(422, 'missing_required_field', `Missing \`${field}\` field.`);
      }
      if (!body['html'] && !body['text'])
        return error(422, 'missing_required_field', 'Missing `html` or `text` field.');
      const key =
        typeof request.headers['idempotency-key'] === 'string'
          ? request.headers['idempotency-key']
          : null;
      if (key !== null) {
        if (key.length < 1 || key.length > 256)
          return error(400, 'invalid_idempotency_key', 'The key must be between 1-256 chars.');
        const previous = byKey.get(key);
        if (previous) {
          if (previous.payload !== raw)
            return error(
              409,
              'invalid_idempotent_request',
              'Same idempotency key used with a different request payload.',
            );
          if (failure) return dropAnswer();
          return reply(200, { id: previous.id });
        }
      }
      const id = randomUUID();
      if (key !== null) byKey.set(key, { payload: raw, id });
      const message = { id, body, idempotencyKey: key };
      sent.push(message);
      if (failure) return dropAnswer();
      if (!options.beforeAnswer) return reply(200, { id });
      void Promise.resolve(options.beforeAnswer(message)).finally(() => reply(200, { id }));
    });
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((resolve) => server.once('listening', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent,
    requests,
    failNext(count, status, retryAfter) {
      for (let i = 0; i < count; i += 1) failures.push({ status, retryAfter });
    },
    timeOutNext(count, timeout) {
      for (let i = 0; i < count; i += 1) failures.push({ timeout });
    },
    recover() {
      failures.length = 0;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
