import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../security/signed-tokens.ts';
import { buildApp, loggerOptions } from '../../api/app.ts';
import { HTML_CSP, JSON_CSP } from '../../api/hardening.ts';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { appDepsFromConfig } from '../../scripts/lib/app-options.ts';
import { connectTemporalClient } from '../../temporal/client.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { startTestStack, testConfig, type TestStack } from '../helpers/stack.ts';
import { fileDatabaseUrl } from '../helpers/file-resources.ts';

const STOREFRONT = 'https://shop.example.test';
const API_LIMIT = 5;
const OPERATOR_TOKEN = randomBytes(24).toString('hex');

/** Every JSON log line the api wrote, parsed. */
function captureLogs(): { stream: Writable; lines: Record<string, unknown>[]; text(): string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString('utf8'));
      done();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return {
    stream,
    get lines() {
      return lines();
    },
    text: () => chunks.join(''),
  };
}

let stack: TestStack;
let issuer: Awaited<ReturnType<typeof createTestIssuer>>;
const logs = captureLogs();
const userToken = (sub = `auth0|${randomBytes(6).toString('hex')}`) => issuer.token({ sub });

beforeAll(async () => {
  issuer = await createTestIssuer();
  stack = await startTestStack({
    worker: false,
    env: { OPERATOR_TOKENS: `hardening-support:support:${OPERATOR_TOKEN}` },
    app: {
      auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience },
      security: { corsOrigins: [STOREFRONT], production: true, apiRateLimitPerMinute: API_LIMIT },
      logger: { ...loggerOptions('info'), stream: logs.stream },
    },
  });
});
afterAll(async () => {
  await stack?.close();
});

describe('security headers', () => {
  it('sends a locked-down CSP, nosniff, no-referrer, DENY framing and HSTS with JSON answers', async () => {
    const response = await stack.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-security-policy']).toBe(JSON_CSP);
    expect(response.headers['content-security-policy']).toContain("default-src 'none'");
    expect(response.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    expect(response.headers['x-content-type-options']).toBe('nosniff');
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.headers['x-frame-options']).toBe('DENY');
    expect(response.headers['strict-transport-security']).toMatch(/^max-age=31536000/);
  });

  it('gives the HTML download pages a policy that allows their styles but no script', async () => {
    // A well-formed token no secret signed: the "link not found" page.
    const response = await stack.app.inject({ method: 'GET', url: `/downloads/${'A'.repeat(51)}` });
    expect(response.statusCode).toBe(404);
    expect(response.headers['content-type']).toMatch(/^text\/html/);
    expect(response.headers['content-security-policy']).toBe(HTML_CSP);
    expect(response.headers['content-security-policy']).not.toContain('script-src');
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('sends the headers on errors and unknown routes too, and no-store on /v1 answers', async () => {
    const missing = await stack.app.inject({ method: 'GET', url: '/no-such-route' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers['content-security-policy']).toBe(JSON_CSP);
    const unauthorised = await stack.app.inject({ method: 'GET', url: '/v1/entitlements' });
    expect(unauthorised.statusCode).toBe(401);
    expect(unauthorised.headers['x-frame-options']).toBe('DENY');
    expect(unauthorised.headers['cache-control']).toBe('no-store');
  });

  it('leaves HSTS off outside production', async () => {
    const app = await buildApp({
      ...appDepsFromConfig(stack.config, stack.db, stack.temporal),
      relay: undefined,
      logger: false,
    });
    try {
      const response = await app.inject({ method: 'GET', url: '/healthz' });
      expect(response.headers['strict-transport-security']).toBeUndefined();
      expect(response.headers['content-security-policy']).toBe(JSON_CSP);
    } finally {
      await app.close();
    }
  });
});

describe('CORS', () => {
  const preflight = (url: string, origin: string) =>
    stack.app.inject({
      method: 'OPTIONS',
      url,
      headers: {
        origin,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization',
      },
    });

  it('lets the storefront origin call /v1/ from a browser', async () => {
    const response = await preflight('/v1/entitlements', STOREFRONT);
    expect(response.statusCode).toBe(204);
    expect(response.headers['access-control-allow-origin']).toBe(STOREFRONT);
    expect(String(response.headers['access-control-allow-headers'])).toContain('authorization');

    const call = await stack.app.inject({
      method: 'GET',
      url: '/v1/entitlements',
      headers: { origin: STOREFRONT, authorization: `Bearer ${await userToken()}` },
    });
    expect(call.statusCode).toBe(200);
    expect(call.headers['access-control-allow-origin']).toBe(STOREFRONT);
  });

  it('gives any other origin no CORS headers', async () => {
    const response = await preflight('/v1/entitlements', 'https://evil.example.test');
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
    const call = await stack.app.inject({
      method: 'GET',
      url: '/v1/entitlements',
      headers: {
        origin: 'https://evil.example.test',
        authorization: `Bearer ${await userToken()}`,
      },
    });
    expect(call.statusCode).toBe(200);
    expect(call.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('allows no origin at all outside /v1/, not even the storefront', async () => {
    const response = await stack.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { origin: STOREFRONT },
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });
});

describe('body size limits', () => {
  it('answers 413 to an oversize body on a /v1 route', async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/v1/claims',
      headers: { authorization: `Bearer ${await userToken()}`, 'content-type': 'application/json' },
      payload: JSON.stringify({ token: 'x'.repeat(20 * 1024) }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json<{ error: string }>().error).toMatch(/body/i);
  });

  it('answers 413 to an oversize body on the service endpoint too', async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/v1/rewards',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ skus: ['x'.repeat(20 * 1024)] }),
    });
    expect(response.statusCode).toBe(413);
  });

  it('still accepts an ordinary body', async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/v1/claims',
      headers: { authorization: `Bearer ${await userToken()}` },
      payload: { token: 'x'.repeat(43) },
    });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'this claim link is not valid' });
  });
});

describe('rate limits', () => {
  it('answers 429 with retry-after once one user passes the /v1 limit, and not to another user', async () => {
    const token = await userToken();
    const statuses: number[] = [];
    for (let i = 0; i <= API_LIMIT; i++) {
      const response = await stack.app.inject({
        method: 'GET',
        url: '/v1/entitlements',
        headers: { authorization: `Bearer ${token}` },
      });
      statuses.push(response.statusCode);
      if (response.statusCode === 429) expect(response.headers['retry-after']).toBeDefined();
    }
    expect(statuses).toEqual([...Array<number>(API_LIMIT).fill(200), 429]);
    const other = await stack.app.inject({
      method: 'GET',
      url: '/v1/entitlements',
      headers: { authorization: `Bearer ${await userToken()}` },
    });
    expect(other.statusCode).toBe(200);
  });

  it('counts a percent-encoded /v1 path (routed to the same handler) against the same limit', async () => {
    const token = await userToken();
    const statuses: number[] = [];
    for (let i = 0; i <= API_LIMIT; i++) {
      const response = await stack.app.inject({
        method: 'GET',
        url: i % 2 === 0 ? '/%761/entitlements' : '/v1/entitlement%73',
        headers: { authorization: `Bearer ${token}` },
      });
      statuses.push(response.statusCode);
    }
    expect(statuses).toEqual([...Array<number>(API_LIMIT).fill(200), 429]);
  });

  it('answers 429 once an operator passes the /admin limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= API_LIMIT; i++) {
      const response = await stack.app.inject({
        method: 'GET',
        url: '/admin/jobs?limit=1',
        headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
      });
      statuses.push(response.statusCode);
    }
    expect(statuses).toEqual([...Array<number>(API_LIMIT).fill(200), 429]);
  });

  it('answers 429 to an address that keeps sending bad tokens, before checking them', async () => {
    const statuses: number[] = [];
    // Ten callers' worth per address (API_LIMIT × 10), then 429 whatever the token.
    for (let i = 0; i <= API_LIMIT * 10; i++) {
      const response = await stack.app.inject({
        method: 'GET',
        url: '/v1/entitlements',
        remoteAddress: '198.51.100.23',
        headers: { authorization: `Bearer forged-${i}` },
      });
      statuses.push(response.statusCode);
    }
    expect(statuses.slice(0, -1).every((status) => status === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
  });

  it('limits claim-link clicks per address', async () => {
    let last = 0;
    // The download/claim limiter allows 60 a minute per address (scripts/lib/app-options.ts).
    for (let i = 0; i <= 60; i++) {
      const response = await stack.app.inject({
        method: 'GET',
        url: '/claim/not-a-claim-token',
        remoteAddress: '198.51.100.7',
      });
      last = response.statusCode;
      if (i < 60) expect(response.statusCode).toBe(302);
    }
    expect(last).toBe(429);
  });
});

describe('rate limits across replicas', () => {
  it('counts one limit across api processes: two apps on one database share the count', async () => {
    const config = testConfig({ OPERATOR_TOKENS: `replica-ops:support:${OPERATOR_TOKEN}` });
    const scope = `replicas-${randomBytes(4).toString('hex')}`;
    const replicas = await Promise.all(
      [1, 2].map(() =>
        buildApp({
          ...appDepsFromConfig(config, stack.db, stack.temporal),
          relay: undefined,
          logger: false,
          security: {
            corsOrigins: [],
            production: false,
            apiRateLimitPerMinute: 4,
            rateLimitScope: scope,
          },
        }),
      ),
    );
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const response = await replicas[i % 2]!.inject({
          method: 'GET',
          url: '/admin/jobs?limit=1',
          headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
        });
        statuses.push(response.statusCode);
      }
      // Four in a minute in all, whichever replica answers: per process it would be eight.
      expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });
});

describe('client addresses behind a proxy', () => {
  const clientOf = async (trustProxy: string | undefined) => {
    const lines = captureLogs();
    const config = testConfig(trustProxy ? { TRUST_PROXY: trustProxy } : {});
    const app = await buildApp({
      ...appDepsFromConfig(config, stack.db, stack.temporal),
      relay: undefined,
      logger: { ...loggerOptions('info'), stream: lines.stream },
    });
    try {
      await app.inject({
        method: 'GET',
        url: '/healthz',
        remoteAddress: '10.0.0.2',
        headers: { 'x-forwarded-for': '203.0.113.9' },
      });
    } finally {
      await app.close();
    }
    const incoming = lines.lines.find((line) => line['msg'] === 'incoming request');
    return (incoming?.['req'] as { remoteAddress?: string } | undefined)?.remoteAddress;
  };

  it('ignores X-Forwarded-For unless TRUST_PROXY says whom to believe', async () => {
    expect(await clientOf(undefined)).toBe('10.0.0.2');
    expect(await clientOf('10.0.0.0/8')).toBe('203.0.113.9');
    expect(await clientOf('1')).toBe('203.0.113.9');
    expect(await clientOf('192.168.0.0/16')).toBe('10.0.0.2');
  });
});

describe('5xx bodies', () => {
  let broken: { app: FastifyInstance; db: Db; close(): Promise<void> };
  const brokenLogs = captureLogs();
  beforeAll(async () => {
    const config = testConfig();
    // A database that does not exist: every query fails with Postgres's own message.
    const url = new URL(fileDatabaseUrl());
    url.pathname = `/no_such_database_${randomBytes(4).toString('hex')}`;
    const db = await connectDatabase({ kind: 'postgres', url: url.toString() });
    const temporal = await connectTemporalClient({
      address: config.TEMPORAL_ADDRESS,
      namespace: config.TEMPORAL_NAMESPACE,
    });
    const app = await buildApp({
      ...appDepsFromConfig(config, db, temporal),
      relay: undefined,
      auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience },
      logger: { ...loggerOptions('info'), stream: brokenLogs.stream },
    });
    broken = {
      app,
      db,
      async close() {
        await app.close();
        await temporal.connection.close();
        await db.destroy();
      },
    };
  });
  afterAll(async () => {
    await broken?.close();
  });

  it('carries a generic message and the request id, never the error or a stack', async () => {
    const response = await broken.app.inject({
      method: 'GET',
      url: '/v1/entitlements',
      headers: { authorization: `Bearer ${await userToken()}`, 'x-request-id': 'req-broken-1' },
    });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({ error: 'internal error', requestId: 'req-broken-1' });
    expect(response.body).not.toMatch(/no_such_database|does not exist|\bat .*\.ts:\d+/);
    expect(response.headers['content-security-policy']).toBe(JSON_CSP);
    // The operator still finds the cause in the log, under the same request id.
    const failure = brokenLogs.lines.find((line) => line['msg'] === 'request failed');
    expect(failure?.['reqId']).toBe('req-broken-1');
    expect(JSON.stringify(failure?.['err'])).toContain('does not exist');
  });

  it('keeps 4xx messages clear', async () => {
    const response = await broken.app.inject({
      method: 'POST',
      url: '/v1/claims',
      headers: { authorization: `Bearer ${await userToken()}`, 'content-type': 'application/json' },
      payload: '{"token": ',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: string }>().error).toMatch(/JSON/i);
  });
});

describe('log redaction', () => {
  it('logs download and claim URLs without their tokens', async () => {
    const downloadToken = 'D'.repeat(51);
    const claimToken = 'C'.repeat(43);
    await stack.app.inject({ method: 'GET', url: `/downloads/${downloadToken}` });
    await stack.app.inject({ method: 'GET', url: `/claim/${claimToken}` });
    // The router decodes paths: an encoded prefix reaches the same route, and is redacted too.
    await stack.app.inject({ method: 'GET', url: `/%64ownloads/${downloadToken}` });
    const urls = logs.lines.flatMap((line) => {
      const req = line['req'] as { url?: string } | undefined;
      return req?.url ? [req.url] : [];
    });
    expect(urls).toContain('/downloads/[redacted]');
    expect(urls).toContain('/claim/[redacted]');
    expect(logs.text()).not.toContain(downloadToken);
    expect(logs.text()).not.toContain(claimToken);
  });

  it('logs no email address, bearer token or query secret from a request', async () => {
    const token = await userToken();
    await stack.app.inject({
      method: 'GET',
      url: '/v1/entitlements?email=buyer.private%40example.com&token=abc123secret',
      headers: { authorization: `Bearer ${token}`, cookie: 'session=cookie-secret' },
    });
    const text = logs.text();
    expect(text).toContain('/v1/entitlements?email=[email]&token=[redacted]');
    expect(text).not.toMatch(/buyer\.private/);
    expect(text).not.toContain('abc123secret');
    expect(text).not.toContain(token);
    expect(text).not.toContain('cookie-secret');
  });

  it('replaces email addresses in logged errors (Postgres names the conflicting value)', async () => {
    const duplicate = Object.assign(new Error('duplicate key value violates unique constraint'), {
      code: '23505',
      detail: 'Key (email)=(buyer.private@example.com) already exists.',
    });
    stack.app.log.error({ err: duplicate, email: 'buyer.private@example.com' }, 'insert failed');
    const line = logs.lines.find((entry) => entry['msg'] === 'insert failed');
    expect(line?.['err']).toMatchObject({
      code: '23505',
      detail: 'Key (email)=([email]) already exists.',
    });
    expect(line?.['email']).toBe('[redacted]');
    expect(logs.text()).not.toContain('buyer.private@example.com');
  });
});

describe('constant-time comparisons', () => {
  it('rejects a storage URL whose signature was cut short with 403, not a crash', async () => {
    const secret = stack.config.DOWNLOAD_TOKEN_SECRETS![0]!;
    const valid = signToken({ k: 'x', n: 'x.pdf', x: Math.floor(Date.now() / 1000) + 60 }, [
      secret,
    ]);
    const response = await stack.app.inject({
      method: 'GET',
      url: `/storage/local/${valid.slice(0, -10)}`,
    });
    expect(response.statusCode).toBe(403);
  });

  it('compares every token and signature with timingSafeEqual, never with ===', () => {
    for (const file of [
      'security/signed-tokens.ts',
      'security/download-links.ts',
      'gateway/signature.ts',
      'api/service-tokens.ts',
    ]) {
      const source = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
      expect(source, file).toContain('timingSafeEqual(');
      expect(source, file).not.toMatch(
        /\b(mac|expected|presented|signature|candidate|token|secret)\w*\s*[!=]==?\s*(mac|expected|presented|signature|candidate|token|secret)/i,
      );
    }
  });
});
