import { randomBytes, randomUUID } from 'node:crypto';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../api/openapi.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const ADMIN_TOKEN = randomBytes(24).toString('hex');
const SUPPORT_TOKEN = randomBytes(24).toString('hex');
const SERVICE_TOKEN = randomBytes(24).toString('hex');
let stack: TestStack;
let userToken: string;
beforeAll(async () => {
  const issuer = await createTestIssuer();
  userToken = await issuer.token({ sub: `user-${randomUUID()}`, email: 'docs@example.com' });
  stack = await startTestStack({
    worker: false,
    env: {
      OPERATOR_TOKENS: `docs-admin:admin:${ADMIN_TOKEN},docs-support:support:${SUPPORT_TOKEN}`,
      SERVICE_TOKENS: `docs-service:${SERVICE_TOKEN}`,
    },
    app: { auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience } },
  });
});
afterAll(async () => {
  await stack?.close();
});

interface Document {
  openapi: string;
  paths: Record<
    string,
    Record<
      string,
      {
        parameters: unknown[];
        requestBody?: unknown;
        responses: Record<string, { content?: unknown }>;
      }
    >
  >;
}

describe('GET /docs', () => {
  it('documents every route the api serves, each with its request and response schemas', async () => {
    const doc = (await stack.app.inject({ method: 'GET', url: '/docs' })).json<Document>();
    expect(doc.openapi).toBe('3.1.0');

    // Every route the api registered (the dev outbox page aside) is documented.
    // The dev outbox and the support console are pages for people (README), not the API.
    const served = stack.app.registeredRoutes.filter(
      (route) => !route.includes('/dev/outbox') && !route.includes(' /console'),
    );
    const documented = OPERATIONS.map((op) => `${op.method.toUpperCase()} ${op.path}`);
    expect(served).toContain('POST /v1/claims');
    expect(served.length).toBeGreaterThan(15);
    expect(served.filter((route) => !documented.includes(route))).toEqual([]);

    const shelf = doc.paths['/v1/entitlements']!['get']!;
    expect(shelf.parameters).toContainEqual(expect.objectContaining({ name: 'view', in: 'query' }));
    expect(shelf.responses['200']!.content).toBeDefined();
    const download = doc.paths['/v1/entitlements/{id}/download-url']!['post']!;
    expect(download.requestBody).toMatchObject({
      content: {
        'application/json': { schema: { properties: { format: { enum: ['pdf', 'epub'] } } } },
      },
    });
    expect(Object.keys(download.responses)).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '404', '409']),
    );
  });
});

/** Fills a documented path's parameters: a fresh UUID for ids, a plausible token otherwise. */
const concretePath = (path: string) =>
  path.replaceAll(/\{(\w+)\}/g, (_m, name: string) =>
    /id$/i.test(name) && name !== 'eventId' && name !== 'rewardId'
      ? randomUUID()
      : `${name}-${randomBytes(4).toString('hex')}`,
  );

/** The credentials a probe tries for an operation: none, then each the document names. */
function credentialsFor(security: string | undefined): (string | null)[] {
  switch (security) {
    case 'operator':
      return [
        null,
        `Bearer ${randomBytes(24).toString('hex')}`,
        `Bearer ${SUPPORT_TOKEN}`,
        `Bearer ${ADMIN_TOKEN}`,
      ];
    case 'service':
      return [null, `Bearer ${SERVICE_TOKEN}`];
    case 'endUser':
      return [null, 'Bearer not-a-jwt', `Bearer ${userToken}`];
    default:
      return [null];
  }
}

describe('GET /docs tells the truth', () => {
  it('documents every status the routes answer to missing, wrong and valid credentials and to empty, malformed and non-text input', async () => {
    const undocumented: string[] = [];
    for (const operation of OPERATIONS) {
      const documented = Object.keys(operation.responses).map(Number);
      const method = operation.method.toUpperCase() as 'GET' | 'POST' | 'DELETE';
      for (const authorization of credentialsFor(operation.security)) {
        const probes: InjectOptions[] = [
          { url: concretePath(operation.path) },
          { url: `${concretePath(operation.path)}?probe=%00` },
          ...(method === 'GET'
            ? []
            : [
                { url: concretePath(operation.path), payload: {} },
                {
                  url: concretePath(operation.path),
                  payload: '{"not json',
                  headers: { 'content-type': 'application/json' },
                },
              ]),
        ];
        for (const probe of probes) {
          const response = await stack.app.inject({
            method,
            ...probe,
            headers: { ...probe.headers, ...(authorization ? { authorization } : {}) },
          });
          if (!documented.includes(response.statusCode))
            undocumented.push(
              `${method} ${operation.path} answered ${response.statusCode} (${authorization ? 'with' : 'without'} credentials, ${probe.payload === undefined ? 'no body' : 'a body'}${(probe.url as string).includes('%00') ? ', NUL query' : ''}): ${response.body.slice(0, 120)}`,
            );
        }
      }
    }
    expect(undocumented).toEqual([]);
  });

  it('states the trimmed minimum of a reason as the validator applies it', async () => {
    const doc = (await stack.app.inject({ method: 'GET', url: '/docs' })).json<Document>();
    const body = doc.paths['/admin/entitlements/{ref}/revoke']!['post']!.requestBody as {
      content: Record<
        string,
        { schema: { properties: Record<string, { pattern: string; minLength: number }> } }
      >;
    };
    const reason = body.content['application/json']!.schema.properties['reason']!;
    expect(reason.minLength).toBe(3);
    const pattern = new RegExp(reason.pattern, 'u');
    for (const [value, valid] of [
      ['   a  ', false],
      [' ab ', false],
      ['abc', true],
      ['  a b  ', true],
    ] as const) {
      expect(pattern.test(value), JSON.stringify(value)).toBe(valid);
      const response = await stack.app.inject({
        method: 'POST',
        url: `/admin/entitlements/pi_${randomBytes(4).toString('hex')}/revoke`,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
        payload: { reason: value },
      });
      // Valid reasons reach the lookup (an unknown purchase); invalid ones stop at the validator.
      expect(response.statusCode, JSON.stringify(value)).toBe(valid ? 404 : 400);
    }
  });

  it('answers 405 with an Allow header to a method a known path does not serve, and 404 to an unknown path', async () => {
    for (const operation of OPERATIONS) {
      const served = OPERATIONS.filter((op) => op.path === operation.path).map((op) =>
        op.method.toUpperCase(),
      );
      const response = await stack.app.inject({ method: 'PUT', url: concretePath(operation.path) });
      expect(response.statusCode, `PUT ${operation.path}`).toBe(405);
      expect(response.headers['allow']).toEqual(expect.stringContaining(served[0]!));
      expect(response.json<{ error: string }>().error).toMatch(/PUT is not allowed here/);
    }
    const patch = await stack.app.inject({ method: 'PATCH', url: '/v1/claims' });
    expect(patch.statusCode).toBe(405);
    expect(patch.headers['allow']).toBe('POST');
    expect((await stack.app.inject({ method: 'GET', url: '/no/such/path' })).statusCode).toBe(404);
  });

  it('serves the document at /docs/openapi.json and /docs, and sends a browser to the readable reference', async () => {
    const stable = await stack.app.inject({ method: 'GET', url: '/docs/openapi.json' });
    expect(stable.json()).toEqual((await stack.app.inject({ method: 'GET', url: '/docs' })).json());
    const browser = await stack.app.inject({
      method: 'GET',
      url: '/docs',
      headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' },
    });
    expect(browser.statusCode).toBe(303);
    expect(browser.headers['location']).toBe('/docs/reference/');
    const page = await stack.app.inject({ method: 'GET', url: '/docs/reference/' });
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toMatch(/script-src 'self' 'sha256-[^']+'/);
    expect(csp).not.toContain("script-src 'self' 'unsafe-inline'");
    expect(page.body).toContain('/docs/openapi.json');
  });
});
