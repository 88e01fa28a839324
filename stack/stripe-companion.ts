import http from 'node:http';
import { stripeTestId } from './stripe-events.ts';
import { listenOnLoopback } from './processes.ts';

/**
 * A small Stripe API emulator that runs beside localstripe for the reads localstripe lacks or
 * gets wrong: Checkout Sessions (localstripe answers 404 for every `/v1/checkout/*` path),
 * their line items, Webhook Endpoints, and objects in the current API version's shape (a
 * charge without a `refunds` list, a payment intent with `latest_charge`, expandable fields as
 * ids) for customers, charges, payment intents, events, prices and products. Bound to
 * 127.0.0.1. Point `STRIPE_API_URL` at it: what it does not hold it forwards, unchanged, to
 * `upstream` (localstripe), so a test keeps localstripe's payments and adds the rest.
 *
 * It implements what Stripe documents for these GET operations (pinned by
 * test/gateway/stripe-contract.test.ts against test/fixtures/stripe/openapi.json):
 *
 * - `GET /v1/checkout/sessions?payment_intent=&limit=&starting_after=` and
 *   `GET /v1/checkout/sessions/{id}/line_items`;
 * - `GET /v1/customers/{id}`, `/v1/charges/{id}`, `/v1/payment_intents/{id}`;
 * - `GET /v1/charges`, `/v1/events` (`type`, `types[]`, `created[gt|gte|lt|lte]`),
 *   `/v1/webhook_endpoints`, `/v1/prices` (`active`, `product`, `currency`), `/v1/products`
 *   (`active`) — lists newest first, `limit` 1–100 (default 10), cursor by `starting_after`;
 * - an unknown id answers 404 `resource_missing`, a bad parameter 400 `invalid_request_error`,
 *   each with Stripe's error body; a missing bearer key answers 401.
 *
 * Tests put objects in with `put` and `putLineItems`, and make a path fail with `fail`.
 */
export interface StripeCompanion {
  url: string;
  /** Holds a Stripe object (by its `id` and `object`); a later put of the same id replaces it. */
  put<T extends { id: string; object: string }>(object: T): T;
  /** The line items of a checkout session (each an `item` object). */
  putLineItems(sessionId: string, items: object[]): void;
  /**
   * Answers requests whose path starts with `path` (a string) or matches it (a RegExp) with
   * `status` and Stripe's error body, `count` times (default: until `clearFailures`).
   */
  fail(path: string | RegExp, status: number, count?: number): void;
  clearFailures(): void;
  /** Every request it answered itself (not forwarded), for the contract test. */
  served: ServedRequest[];
  close(): Promise<void>;
}

export interface ServedRequest {
  method: string;
  /** The OpenAPI path template it matched, e.g. `/v1/checkout/sessions/{session}/line_items`. */
  template: string;
  pathParams: Record<string, string>;
  query: URLSearchParams;
  status: number;
  body: unknown;
}

type StripeObject = { id: string; object: string; created?: number; [key: string]: unknown };

/** Which resource a list path holds, and the object type it lists. */
const LISTS: Record<string, string> = {
  '/v1/checkout/sessions': 'checkout.session',
  '/v1/charges': 'charge',
  '/v1/events': 'event',
  '/v1/webhook_endpoints': 'webhook_endpoint',
  '/v1/prices': 'price',
  '/v1/products': 'product',
};

/** Lists this emulator always answers (localstripe has none of them). */
const ALWAYS_LOCAL = new Set(['checkout.session', 'webhook_endpoint']);

const RETRIEVES: { pattern: RegExp; template: string; object: string; param: string }[] = [
  {
    pattern: /^\/v1\/customers\/([^/]+)$/,
    template: '/v1/customers/{customer}',
    object: 'customer',
    param: 'customer',
  },
  {
    pattern: /^\/v1\/charges\/([^/]+)$/,
    template: '/v1/charges/{charge}',
    object: 'charge',
    param: 'charge',
  },
  {
    pattern: /^\/v1\/payment_intents\/([^/]+)$/,
    template: '/v1/payment_intents/{intent}',
    object: 'payment_intent',
    param: 'intent',
  },
];
const LINE_ITEMS = /^\/v1\/checkout\/sessions\/([^/]+)\/line_items$/;

class StripeRequestError extends Error {
  readonly status: number;
  readonly code: string;
  readonly param: string | undefined;
  constructor(status: number, message: string, code: string, param?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

function stripeErrorBody(error: StripeRequestError) {
  return {
    error: {
      type: 'invalid_request_error',
      message: error.message,
      code: error.code,
      ...(error.param ? { param: error.param } : {}),
    },
  };
}

/** A `created` range from `created[gte]=…` style parameters, or a plain `created=…`. */
function createdFilter(query: URLSearchParams): (created: number) => boolean {
  const bounds: [string, (a: number, b: number) => boolean][] = [
    ['gt', (a, b) => a > b],
    ['gte', (a, b) => a >= b],
    ['lt', (a, b) => a < b],
    ['lte', (a, b) => a <= b],
  ];
  const checks: ((created: number) => boolean)[] = [];
  const exact = query.get('created');
  if (exact !== null) checks.push((created) => created === integerParam('created', exact));
  for (const [name, compare] of bounds) {
    const value = query.get(`created[${name}]`);
    if (value === null) continue;
    const bound = integerParam(`created[${name}]`, value);
    checks.push((created) => compare(created, bound));
  }
  return (created) => checks.every((check) => check(created));
}

function integerParam(name: string, value: string): number {
  if (!/^-?\d+$/.test(value))
    throw new StripeRequestError(
      400,
      `Invalid integer: ${value}`,
      'parameter_invalid_integer',
      name,
    );
  return Number(value);
}

function booleanParam(name: string, value: string | null): boolean | null {
  if (value === null) return null;
  if (value !== 'true' && value !== 'false')
    throw new StripeRequestError(
      400,
      `Invalid boolean: ${value}`,
      'parameter_invalid_boolean',
      name,
    );
  return value === 'true';
}

const idOf = (value: unknown): string | null =>
  typeof value === 'string'
    ? value
    : value && typeof value === 'object' && 'id' in value
      ? String(value.id)
      : null;

/** Stripe's list envelope over `items` (newest first), paged by `limit` and `starting_after`. */
function page(path: string, items: StripeObject[], query: URLSearchParams) {
  const limit = query.get('limit') === null ? 10 : integerParam('limit', query.get('limit')!);
  if (limit < 1 || limit > 100)
    throw new StripeRequestError(
      400,
      'This value must be between 1 and 100.',
      'parameter_invalid_integer',
      'limit',
    );
  let start = 0;
  const after = query.get('starting_after');
  if (after !== null) {
    const index = items.findIndex((item) => item.id === after);
    if (index < 0)
      throw new StripeRequestError(
        400,
        `No such object: '${after}'`,
        'resource_missing',
        'starting_after',
      );
    start = index + 1;
  }
  const data = items.slice(start, start + limit);
  return { object: 'list', data, has_more: start + limit < items.length, url: path };
}

export async function startStripeCompanion({
  upstream,
}: { upstream?: string } = {}): Promise<StripeCompanion> {
  const objects = new Map<string, StripeObject>();
  const order: string[] = [];
  const lineItems = new Map<string, StripeObject[]>();
  const failures: { path: string | RegExp; status: number; remaining: number }[] = [];
  const served: ServedRequest[] = [];

  const ofType = (type: string) =>
    order
      .map((id) => objects.get(id)!)
      .filter((o) => o.object === type)
      // Newest first, as Stripe lists; the later put wins a tie.
      .reverse()
      .sort((a, b) => (b.created ?? 0) - (a.created ?? 0));

  function list(path: string, type: string, query: URLSearchParams) {
    const created = createdFilter(query);
    const types = query.getAll('types[]');
    const type1 = query.get('type');
    const active = booleanParam('active', query.get('active'));
    const items = ofType(type).filter((o) => {
      if (!created(o.created ?? 0)) return false;
      const q = (name: string) => query.get(name);
      switch (type) {
        case 'checkout.session':
          return (
            (q('payment_intent') === null || idOf(o['payment_intent']) === q('payment_intent')) &&
            (q('customer') === null || idOf(o['customer']) === q('customer')) &&
            (q('status') === null || o['status'] === q('status'))
          );
        case 'charge':
          return (
            (q('payment_intent') === null || idOf(o['payment_intent']) === q('payment_intent')) &&
            (q('customer') === null || idOf(o['customer']) === q('customer'))
          );
        case 'event':
          return (
            (type1 === null || matchesEventType(String(o['type']), type1)) &&
            (types.length === 0 || types.some((t) => matchesEventType(String(o['type']), t)))
          );
        case 'price':
          return (
            (active === null || o['active'] === active) &&
            (q('product') === null || idOf(o['product']) === q('product')) &&
            (q('currency') === null || o['currency'] === q('currency'))
          );
        case 'product':
          return active === null || o['active'] === active;
        default:
          return true;
      }
    });
    return page(path, items, query);
  }

  /** Answers a request itself, or returns null to forward it. */
  function answer(
    method: string,
    path: string,
    query: URLSearchParams,
  ): {
    template: string;
    pathParams: Record<string, string>;
    status: number;
    body: unknown;
  } | null {
    if (method !== 'GET') return null;
    const listType = LISTS[path];
    if (listType) {
      if (!ALWAYS_LOCAL.has(listType) && !order.some((id) => objects.get(id)?.object === listType))
        return null;
      return { template: path, pathParams: {}, status: 200, body: list(path, listType, query) };
    }
    const items = LINE_ITEMS.exec(path);
    if (items) {
      const sessionId = decodeURIComponent(items[1]!);
      const template = '/v1/checkout/sessions/{session}/line_items';
      if (objects.get(sessionId)?.object !== 'checkout.session')
        throw Object.assign(
          new StripeRequestError(
            404,
            `No such checkout.session: '${sessionId}'`,
            'resource_missing',
            'session',
          ),
          { template, pathParams: { session: sessionId } },
        );
      return {
        template,
        pathParams: { session: sessionId },
        status: 200,
        body: page(path, lineItems.get(sessionId) ?? [], query),
      };
    }
    for (const retrieve of RETRIEVES) {
      const match = retrieve.pattern.exec(path);
      if (!match) continue;
      const id = decodeURIComponent(match[1]!);
      const found = objects.get(id);
      if (found?.object === retrieve.object)
        return {
          template: retrieve.template,
          pathParams: { [retrieve.param]: id },
          status: 200,
          body: found,
        };
      return null;
    }
    if (path.startsWith('/v1/checkout/'))
      throw new StripeRequestError(
        404,
        `Unrecognized request URL (GET: ${path}).`,
        'resource_missing',
      );
    return null;
  }

  async function forward(
    request: http.IncomingMessage,
    body: Buffer,
    response: http.ServerResponse,
  ) {
    if (!upstream) {
      const error = new StripeRequestError(
        404,
        `Unrecognized request URL (${request.method}: ${request.url}).`,
        'resource_missing',
      );
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify(stripeErrorBody(error)));
      return;
    }
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers)) {
      if (value === undefined || name === 'host' || name === 'content-length') continue;
      headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const reply = await fetch(`${upstream}${request.url ?? '/'}`, {
      method: request.method ?? 'GET',
      headers,
      ...(body.length > 0 ? { body } : {}),
    });
    const text = Buffer.from(await reply.arrayBuffer());
    response.writeHead(reply.status, {
      'content-type': reply.headers.get('content-type') ?? 'application/json',
    });
    response.end(text);
  }

  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      const method = request.method ?? 'GET';
      const reply = (status: number, body: unknown) => {
        response.writeHead(status, {
          'content-type': 'application/json',
          'request-id': stripeTestId('req'),
        });
        response.end(JSON.stringify(body));
      };
      if (!/^Bearer \S+$/.test(request.headers.authorization ?? '')) {
        return reply(401, {
          error: { type: 'invalid_request_error', message: 'You did not provide an API key.' },
        });
      }
      const failure = failures.find(
        (f) =>
          f.remaining > 0 &&
          (typeof f.path === 'string'
            ? url.pathname.startsWith(f.path)
            : f.path.test(url.pathname)),
      );
      if (failure) {
        failure.remaining -= 1;
        return reply(failure.status, {
          error:
            failure.status >= 500
              ? { type: 'api_error', message: 'An unknown error occurred' }
              : stripeErrorBody(
                  new StripeRequestError(failure.status, 'Simulated failure', 'resource_missing'),
                ).error,
        });
      }
      try {
        const answered = answer(method, url.pathname, url.searchParams);
        if (!answered) {
          forward(request, Buffer.concat(chunks), response).catch((error: unknown) =>
            reply(502, { error: { type: 'api_error', message: String(error) } }),
          );
          return;
        }
        served.push({ method, query: url.searchParams, ...answered });
        return reply(answered.status, answered.body);
      } catch (error) {
        if (!(error instanceof StripeRequestError)) throw error;
        const { template, pathParams } = error as StripeRequestError & {
          template?: string;
          pathParams?: Record<string, string>;
        };
        const body = stripeErrorBody(error);
        const listTemplate = LISTS[url.pathname] ? url.pathname : undefined;
        if (template ?? listTemplate)
          served.push({
            method,
            template: (template ?? listTemplate)!,
            pathParams: pathParams ?? {},
            query: url.searchParams,
            status: error.status,
            body,
          });
        return reply(error.status, body);
      }
    });
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    served,
    put(object) {
      if (!objects.has(object.id)) order.push(object.id);
      objects.set(object.id, object);
      return object;
    },
    putLineItems(sessionId, items) {
      lineItems.set(sessionId, items as StripeObject[]);
    },
    fail(path, status, count = Number.POSITIVE_INFINITY) {
      failures.push({ path, status, remaining: count });
    },
    clearFailures() {
      failures.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `charge.*` style wildcards, as the Events API accepts in `type`. */
function matchesEventType(type: string, pattern: string): boolean {
  if (!pattern.includes('*')) return type === pattern;
  const prefix = pattern.slice(0, pattern.indexOf('*'));
  return type.startsWith(prefix);
}
