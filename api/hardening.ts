import { createHash } from 'node:crypto';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Db } from '../db/database.ts';
import { EMAIL_PATTERN, redactEmails } from '../security/redaction.ts';
import { installInputTextGuard } from './input-guard.ts';
import { postgresRateLimitStore } from './rate-limit-store.ts';

export interface SecurityOptions {
  /** Browser origins allowed to call the storefront API under /v1/ (exact `scheme://host[:port]`). */
  corsOrigins: readonly string[];
  /** Production adds Strict-Transport-Security (browsers only honour it over HTTPS anyway). */
  production: boolean;
  /** Requests per minute per caller on /v1/* and /admin/* (a user, a service or an operator). */
  apiRateLimitPerMinute: number;
  /** Fastify's `trustProxy`: whose X-Forwarded-For names the client (TRUST_PROXY). */
  trustProxy?: boolean | number | string[] | undefined;
  /** Where the limits count: PostgreSQL, shared by every api replica. */
  db: Db;
  /**
   * The counters' namespace: replicas that share it share their limits (default `fleet`). Only
   * apps that must not count together on one database — separate test stacks — set another.
   */
  rateLimitScope?: string;
}

/**
 * Content-Security-Policy of JSON answers: nothing may load, nothing may frame them. The HTML
 * pages (download errors, the dev outbox) get the same policy plus inline styles and images,
 * which the email templates the outbox shows rely on — and still no scripts.
 */
export const JSON_CSP =
  "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
export const HTML_CSP =
  "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/** A year, the preload list's minimum; set only in production, where the api sits behind TLS. */
const HSTS = 'max-age=31536000; includeSubDomains';

/** /v1/claims spends single-use tokens or a verified email: a person needs a few tries, not more. */
const CLAIMS_PER_MINUTE = 10;

/** Per address, ten callers' worth: an office or a mobile carrier puts many people behind one. */
const ADDRESS_LIMIT_FACTOR = 10;

/** Small JSON bodies only: ids, a format, a claim token, a reward's SKU list. */
export const API_BODY_LIMIT_BYTES = 16 * 1024;

const sha256 = (value: string): string => createHash('sha256').update(value).digest('hex');

/** The caller a /v1 or /admin request is counted against, once its authentication ran. */
function callerKey(request: FastifyRequest): string {
  const known = request as FastifyRequest & {
    endUser?: { userId: string } | null;
    operator?: { name: string };
  };
  if (known.endUser) return `user:${known.endUser.userId}`;
  if (known.operator) return `operator:${known.operator.name}`;
  const authorization = request.headers.authorization;
  // A service token (rewards): counted per token, never kept in clear in the limiter's memory.
  if (typeof authorization === 'string') return `bearer:${sha256(authorization)}`;
  return `ip:${request.ip}`;
}

/**
 * The path as the router matched it: decoded, so `/%761/claims` (routed to `/v1/claims`) is
 * limited and redacted like `/v1/claims`. An undecodable path is left as it is (the router
 * answers it 400).
 */
function pathOf(request: FastifyRequest): string {
  const raw = request.url.split('?', 1)[0] ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Installs the cross-cutting protections on the root instance, before any route registers so
 * every route gets them: security headers on every answer, CORS for the storefront's origins on
 * /v1/ only, a 16 KiB body limit on /v1/ routes, per-caller rate limits on /v1/ and /admin/
 * counted in PostgreSQL (fleet-wide), and a 400 naming the field for any input that is not
 * text PostgreSQL can store (NUL, invalid UTF-8). Webhooks, downloads and claim links keep the
 * limits their own plugins set.
 */
export async function installSecurity(
  app: FastifyInstance,
  options: SecurityOptions,
): Promise<void> {
  app.addHook('onSend', async (request, reply, payload) => {
    const html = String(reply.getHeader('content-type') ?? '').startsWith('text/html');
    if (!reply.hasHeader('content-security-policy'))
      reply.header('content-security-policy', html ? HTML_CSP : JSON_CSP);
    reply.header('x-content-type-options', 'nosniff');
    reply.header('x-frame-options', 'DENY');
    // Download and claim links carry their token in the path: never hand it on as a Referer.
    reply.header('referrer-policy', 'no-referrer');
    reply.header('cross-origin-opener-policy', 'same-origin');
    if (options.production) reply.header('strict-transport-security', HSTS);
    const path = pathOf(request);
    if (
      (path.startsWith('/v1/') || path.startsWith('/admin/')) &&
      !reply.hasHeader('cache-control')
    )
      reply.header('cache-control', 'no-store');
    return payload;
  });

  const allowed = new Set(options.corsOrigins);
  await app.register(cors, {
    delegator: (request, callback) => {
      const onApi = pathOf(request).startsWith('/v1/');
      callback(null, {
        // Anything else (another origin, or any path outside /v1/) gets no CORS headers at
        // all, so the browser refuses to hand the answer to the page.
        origin: onApi
          ? (origin, done) => done(null, origin !== undefined && allowed.has(origin))
          : false,
        methods: ['GET', 'POST', 'DELETE'],
        allowedHeaders: ['authorization', 'content-type', 'x-request-id'],
        exposedHeaders: ['retry-after', 'x-request-id'],
        maxAge: 600,
      });
    },
  });

  // /admin keeps the app-wide 64 KiB: a catalog import is larger than any storefront call.
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/v1/') && route.bodyLimit === undefined)
      route.bodyLimit = API_BODY_LIMIT_BYTES;
  });

  installInputTextGuard(app);

  await app.register(rateLimit, {
    // Every replica counts in the same rows: a limit holds across the fleet.
    store: postgresRateLimitStore(options.db, `${options.rateLimitScope ?? 'fleet'}:api`),
    // A limiter that cannot count lets the request through: the route itself still answers.
    skipOnError: true,
    // After authentication, so a signed-in user is counted as themselves on every device.
    hook: 'preHandler',
    timeWindow: '1 minute',
    keyGenerator: (request) => {
      const path = pathOf(request);
      return path === '/v1/claims' ? `claims:${request.ip}` : callerKey(request);
    },
    max: (_request, key) =>
      key.startsWith('claims:')
        ? Math.min(CLAIMS_PER_MINUTE, options.apiRateLimitPerMinute)
        : options.apiRateLimitPerMinute,
    // Only the API surfaces: webhooks, downloads and claim links carry their own limiters.
    allowList: (request) => !onApiSurface(request),
  });

  // Before any authentication: an address sending far more than people do — bad tokens
  // included, which the per-caller limit above never sees — gets 429 before a JWT check.
  const perAddress = app.createRateLimit({
    timeWindow: '1 minute',
    max: options.apiRateLimitPerMinute * ADDRESS_LIMIT_FACTOR,
    keyGenerator: (request) => `address:${request.ip}`,
  });
  app.addHook('onRequest', async (request, reply) => {
    if (!onApiSurface(request)) return;
    const limit = await perAddress(request);
    if (!limit.isAllowed && limit.isExceeded) {
      return reply
        .code(429)
        .header('retry-after', String(limit.ttlInSeconds))
        .send({ error: 'too many requests from this address; retry in a minute' });
    }
  });
}

const onApiSurface = (request: FastifyRequest): boolean => {
  const path = pathOf(request);
  return path.startsWith('/v1/') || path.startsWith('/admin/');
};

/**
 * TRUST_PROXY as Fastify takes it: a hop count becomes "trust the first N hops" (what Fastify
 * does with a number at run time; its types only list the function form).
 */
export function fastifyTrustProxy(
  setting: SecurityOptions['trustProxy'],
): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (typeof setting === 'number') return (_address, hop) => hop < setting;
  return setting ?? false;
}

/** Path segments that are bearer credentials: whoever reads the log must not be able to use them. */
const TOKEN_IN_PATH = /^\/(downloads|claim|storage\/local)\/[^/?#]+/;
const SECRET_QUERY = /([?&](?:token|key|signature|secret|code)=)[^&#]*/gi;

/**
 * A request URL as it may be logged: download, claim and storage tokens, token-like query
 * parameters and email addresses replaced.
 */
export function redactUrl(url: string): string {
  // Matched decoded, as the router routes it: `/%64ownloads/<token>` is a download link too.
  let decoded = url;
  try {
    decoded = decodeURI(url);
  } catch {
    // Not decodable: the router refuses it; redact what is there.
  }
  return decoded
    .replace(TOKEN_IN_PATH, (_match, prefix: string) => `/${prefix}/[redacted]`)
    .replace(SECRET_QUERY, '$1[redacted]')
    .replace(EMAIL_PATTERN, '[email]');
}

/**
 * An error as it may be logged: type, message, code, stack and the database's `detail`, with
 * email addresses replaced — Postgres names the conflicting value in unique-violation details.
 */
export function serializeErrorForLog(error: unknown): LoggedError {
  if (!(error instanceof Error))
    return { type: typeof error, message: redactEmails(String(error)), stack: '' };
  const extra = error as Error & { code?: unknown; detail?: unknown; statusCode?: unknown };
  return {
    type: error.name,
    message: redactEmails(error.message),
    stack: redactEmails(error.stack ?? ''),
    ...(extra.code !== undefined ? { code: extra.code } : {}),
    ...(extra.statusCode !== undefined ? { statusCode: extra.statusCode } : {}),
    ...(typeof extra.detail === 'string' ? { detail: redactEmails(extra.detail) } : {}),
    ...(error.cause !== undefined ? { cause: serializeErrorForLog(error.cause) } : {}),
  };
}

/** The shape pino's own error serializer produces, which Fastify's types expect. */
export interface LoggedError {
  [key: string]: unknown;
  type: string;
  message: string;
  stack: string;
}
