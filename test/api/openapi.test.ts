import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../../api/openapi.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

let stack: TestStack;
beforeAll(async () => {
  const issuer = await createTestIssuer();
  stack = await startTestStack({
    worker: false,
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
    const served = stack.app.registeredRoutes.filter((route) => !route.includes('/dev/outbox'));
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
