// Property-based fuzzing of every route the api documents at GET /docs: arbitrary path
// parameters, query strings, bodies and credentials — NUL characters, lone surrogates, invalid
// UTF-8 percent-encodings and bytes, huge and empty values — and signed webhooks carrying
// arbitrary events. The api must never answer 5xx (a 503 only where the document declares one
// for a dependency being away), and a NUL or invalid UTF-8 in any field is a 400 naming it.
//
// The app runs on a database of its own and a Temporal namespace no worker polls, so the
// workflows a fuzzed request may start never run anywhere. FUZZ_RUNS sets the runs per route.
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import fc from 'fast-check';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.ts';
import { HANDLED_STRIPE_EVENT_TYPES } from '../../gateway/stripe-routing.ts';
import { appDepsFromConfig } from '../../scripts/lib/app-options.ts';
import { waitFor } from '../../stack/processes.ts';
import { signStripePayload } from '../../stack/stripe-events.ts';
import { connectTemporalClient } from '../../temporal/client.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { createTestIssuer } from '../helpers/jwt.ts';
import { testConfig } from '../helpers/stack.ts';

const RUNS = Number(process.env['FUZZ_RUNS'] ?? 25);
const OPERATOR_TOKEN = randomBytes(24).toString('hex');
const SERVICE_TOKEN = randomBytes(24).toString('hex');
const RESEND_SECRET = `whsec_${randomBytes(24).toString('base64')}`;

interface DocOperation {
  security?: Record<string, unknown>[];
  parameters?: { name: string; in: string }[];
  requestBody?: {
    content?: Record<string, { schema?: { properties?: Record<string, unknown> } }>;
  };
  responses?: Record<string, unknown>;
}
interface Operation {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  security: string | null;
  pathParams: string[];
  queryParams: string[];
  bodyFields: string[] | null;
  declares503: boolean;
}

type NamespaceRequest = Parameters<Client['workflowService']['registerNamespace']>[0];
/** A protobuf Duration; protobufjs takes a number where its types say Long. */
const ONE_DAY = { seconds: 24 * 3600 } as unknown as NonNullable<
  NamespaceRequest['workflowExecutionRetentionPeriod']
>;

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let temporal: Client;
let app: FastifyInstance;
let stripeSecret: string;
let userToken: string;
let operations: Operation[];

beforeAll(async () => {
  scratch = await createScratchDatabase();
  const namespace = `fuzz-${randomBytes(4).toString('hex')}`;
  const config = testConfig({
    DATABASE_URL: scratch.url,
    TEMPORAL_NAMESPACE: namespace,
    OPERATOR_TOKENS: `fuzzer:admin:${OPERATOR_TOKEN}`,
    SERVICE_TOKENS: `fuzz-missions:${SERVICE_TOKEN}`,
    RESEND_WEBHOOK_SECRET: RESEND_SECRET,
  });
  stripeSecret = config.STRIPE_WEBHOOK_SECRETS[0]!;
  temporal = await connectTemporalClient(temporalTargetFromConfig(config));
  await temporal.workflowService.registerNamespace({
    namespace,
    workflowExecutionRetentionPeriod: ONE_DAY,
  });
  // A new namespace reaches the frontend's cache within seconds.
  await waitFor('the fuzz namespace', async () => {
    await temporal.workflow.count();
    return true;
  });
  const issuer = await createTestIssuer();
  userToken = await issuer.token({ sub: 'auth0|fuzzer', email: 'fuzzer@example.com' });
  const deps = appDepsFromConfig(config, scratch.db, temporal);
  app = await buildApp({
    ...deps,
    relay: undefined,
    // 429s would only hide the routes behind them.
    downloads: { ...deps.downloads!, rateLimitPerMinute: 1_000_000 },
    auth: { jwks: issuer.jwks, issuer: issuer.issuer, audience: issuer.audience },
    devOutbox: true,
    logger: false,
    security: {
      corsOrigins: [],
      production: false,
      apiRateLimitPerMinute: 1_000_000,
      rateLimitScope: namespace,
    },
  });
  operations = documentedOperations(
    (await app.inject({ method: 'GET', url: '/docs' })).json<{
      paths: Record<string, Record<string, DocOperation>>;
    }>().paths,
  );
}, 120_000);

afterAll(async () => {
  await app?.close();
  await temporal?.connection.close();
  await scratch?.drop();
});

function documentedOperations(paths: Record<string, Record<string, DocOperation>>): Operation[] {
  return Object.entries(paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => {
      const body = operation.requestBody?.content?.['application/json']?.schema;
      return {
        method: method.toUpperCase() as Operation['method'],
        path,
        security: Object.keys(operation.security?.[0] ?? {})[0] ?? null,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!),
        queryParams: (operation.parameters ?? [])
          .filter((parameter) => parameter.in === 'query')
          .map((parameter) => parameter.name),
        bodyFields: operation.requestBody ? Object.keys(body?.properties ?? {}) : null,
        declares503: Object.hasOwn(operation.responses ?? {}, '503'),
      };
    }),
  );
}

/** The credential a route asks for, as a caller holding it would send it. */
function credentialFor(security: string | null): string | null {
  switch (security) {
    case 'endUser':
      return `Bearer ${userToken}`;
    case 'operator':
      return `Bearer ${OPERATOR_TOKEN}`;
    case 'service':
      return `Bearer ${SERVICE_TOKEN}`;
    default:
      return null;
  }
}

/** Text a hostile or careless client sends: control characters, lone surrogates, the huge. */
const nasty = fc.constantFrom(
  '',
  '\u0000',
  'ebook\u0000durable',
  '\ud800',
  'a\udfffb',
  '💸',
  '%',
  '../../etc/passwd',
  "'; drop table orders; --",
  'x'.repeat(10_000),
  'ebook-durable-execution',
  '00000000-0000-0000-0000-000000000000',
  '2026-01-01T00:00:00.000Z',
  'buyer@example.com',
  'pi_fuzz',
  '-1',
  '1e309',
);
const text = fc.oneof(
  nasty,
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.uuid(),
  fc.emailAddress(),
  fc.integer().map(String),
);
const jsonLeaf = fc.oneof(text, fc.integer(), fc.double(), fc.boolean(), fc.constant(null));
const jsonValue = fc.oneof(
  jsonLeaf,
  fc.array(jsonLeaf, { maxLength: 4 }),
  fc.dictionary(text, jsonLeaf, { maxKeys: 4 }),
);

/** A URL component as sent on the wire, including encodings that are not UTF-8. */
const urlPart = fc.oneof(
  text.map((value) => {
    try {
      return encodeURIComponent(value);
    } catch {
      // A lone surrogate: sent as the bytes Node would make of it.
      return [...Buffer.from(value, 'utf8')].map((byte) => `%${byte.toString(16)}`).join('');
    }
  }),
  fc.constantFrom('%FF', '%E2%82', '%C0%AF', '%00', '%ED%A0%80', '%zz', 'a+b'),
);

const bodyFor = (fields: string[] | null) =>
  fc.oneof(
    fc
      .record(
        Object.fromEntries(
          (fields && fields.length > 0 ? fields : ['value']).map((field) => [field, jsonValue]),
        ),
        { requiredKeys: [] },
      )
      .map((body) => ({ type: 'application/json', payload: JSON.stringify(body) })),
    jsonValue.map((body) => ({ type: 'application/json', payload: JSON.stringify(body) })),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => ({
      type: 'application/json',
      payload: Buffer.from(bytes),
    })),
    fc.constantFrom(
      { type: 'application/json', payload: Buffer.from('{"reason":"\xff\xfe"}', 'latin1') },
      { type: 'application/json', payload: '' },
      { type: 'text/plain', payload: 'plain text' },
    ),
  );

function requestFor(operation: Operation) {
  return fc
    .record({
      params: fc.array(urlPart, {
        minLength: operation.pathParams.length,
        maxLength: operation.pathParams.length,
      }),
      query: fc.array(
        fc.tuple(fc.oneof(fc.constantFrom(...operation.queryParams, 'extra'), urlPart), urlPart),
        { maxLength: 4 },
      ),
      body:
        operation.method === 'GET' ? fc.constant(null) : fc.option(bodyFor(operation.bodyFields)),
      credential: fc.oneof(
        { weight: 4, arbitrary: fc.constant(credentialFor(operation.security)) },
        { weight: 1, arbitrary: fc.constantFrom(null, 'Bearer forged', 'Basic x') },
      ),
    })
    .map(({ params, query, body, credential }): InjectOptions => {
      let index = 0;
      const path = operation.path.replaceAll(/\{\w+\}/g, () => params[index++] ?? 'x');
      const search = query.map(([key, value]) => `${key}=${value}`).join('&');
      return {
        method: operation.method,
        url: search ? `${path}?${search}` : path,
        headers: {
          ...(credential ? { authorization: credential } : {}),
          ...(body ? { 'content-type': body.type } : {}),
        },
        ...(body ? { payload: body.payload } : {}),
      };
    });
}

/** No 5xx — except a 503 the document declares (a dependency away, e.g. /readyz). */
function expectNo5xx(operation: Operation, status: number, request: InjectOptions): void {
  if (status === 503 && operation.declares503) return;
  expect(status, `${operation.method} ${JSON.stringify(request.url)}`).toBeLessThan(500);
}

describe('fuzzing every documented route', () => {
  it('documents the routes it fuzzes', () => {
    expect(operations.length).toBeGreaterThan(25);
    expect(operations.map((op) => `${op.method} ${op.path}`)).toEqual(
      expect.arrayContaining([
        'POST /v1/claims',
        'GET /admin/webhook-events',
        'POST /webhooks/stripe',
      ]),
    );
  });

  it('never answers 5xx to arbitrary parameters, queries, bodies and credentials', async () => {
    for (const operation of operations) {
      await fc.assert(
        fc.asyncProperty(requestFor(operation), async (request) => {
          const response = await app.inject(request);
          expectNo5xx(operation, response.statusCode, request);
        }),
        { numRuns: RUNS },
      );
    }
  }, 600_000);

  it('answers 400 naming the field for a NUL in a query parameter, on every route', async () => {
    for (const operation of operations) {
      const credential = credentialFor(operation.security);
      const response = await app.inject({
        method: operation.method,
        url: `${operation.path.replaceAll(/\{\w+\}/g, 'x')}?probe=a%00b`,
        headers: credential ? { authorization: credential } : {},
      });
      expect(response.statusCode, `${operation.method} ${operation.path}`).toBe(400);
      expect(response.json<{ error: string }>().error).toBe('query.probe contains a NUL character');
    }
  });

  it('answers 400 naming the field for a NUL or invalid UTF-8 in a path parameter or body field', async () => {
    for (const operation of operations) {
      const credential = credentialFor(operation.security);
      const headers = credential ? { authorization: credential } : {};
      for (const name of operation.pathParams) {
        const url = operation.path.replaceAll(/\{(\w+)\}/g, (_, param: string) =>
          param === name ? 'a%00b' : 'x',
        );
        const response = await app.inject({ method: operation.method, url, headers });
        expect(response.statusCode, url).toBe(400);
        expect(response.json<{ error: string }>().error).toBe(
          `params.${name} contains a NUL character`,
        );
      }
      for (const field of operation.bodyFields ?? []) {
        const url = operation.path.replaceAll(/\{\w+\}/g, 'x');
        const withNul = await app.inject({
          method: operation.method,
          url,
          headers: { ...headers, 'content-type': 'application/json' },
          payload: JSON.stringify({ [field]: 'a\u0000b' }),
        });
        expect(withNul.statusCode, `${url} body.${field}`).toBe(400);
        expect(withNul.json<{ error: string }>().error).toBe(
          `body.${field} contains a NUL character`,
        );
        const surrogate = await app.inject({
          method: operation.method,
          url,
          headers: { ...headers, 'content-type': 'application/json' },
          payload: `{"${field}":"\\ud800"}`,
        });
        expect(surrogate.json<{ error: string }>().error).toBe(`body.${field} is not valid UTF-8`);
      }
    }
  });

  it('answers 400 to a JSON body that is not UTF-8, and to a query value that is not', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/claims',
      headers: { authorization: `Bearer ${userToken}`, 'content-type': 'application/json' },
      payload: Buffer.from([
        0x7b, 0x22, 0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d,
      ]),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json<{ error: string }>().error).toBe('body is not valid UTF-8');
    const query = await app.inject({
      method: 'GET',
      url: '/admin/jobs?email=%E2%82',
      headers: { authorization: `Bearer ${OPERATOR_TOKEN}` },
    });
    expect(query.statusCode).toBe(400);
    expect(query.json<{ error: string }>().error).toBe('query.email is not valid UTF-8');
  });
});

/** Event objects with the fields the gateway reads, each arbitrary. */
const stripeObject = fc.record(
  {
    id: text,
    object: text,
    payment_intent: fc.oneof(text, fc.record({ id: text }), fc.constant(null)),
    payment_status: fc.oneof(fc.constantFrom('paid', 'unpaid', 'no_payment_required'), text),
    amount: fc.oneof(fc.integer(), text),
    amount_refunded: fc.integer(),
    refunds: fc.record({ data: fc.array(fc.record({ id: text }), { maxLength: 2 }) }),
    metadata: fc.dictionary(text, text, { maxKeys: 3 }),
    receipt_email: text,
    description: text,
  },
  { requiredKeys: [] },
);

describe('fuzzing signed webhooks', () => {
  it('records or refuses any event Stripe could sign — never a 5xx — and keeps its exact bytes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          id: fc.oneof(text, fc.constant(`evt_${randomBytes(6).toString('hex')}`)),
          type: fc.oneof(fc.constantFrom(...HANDLED_STRIPE_EVENT_TYPES), text),
          created: fc.oneof(fc.integer({ min: 0, max: 4_000_000_000 }), fc.double()),
          livemode: fc.oneof(fc.boolean(), text),
          api_version: fc.oneof(text, fc.constant(null)),
          data: fc.record({ object: stripeObject }),
        }),
        async (event) => {
          // Unique per run: an id fast-check repeats across runs would be a redelivery.
          const unique = { ...event, id: `${String(event.id)}${randomBytes(4).toString('hex')}` };
          const payload = JSON.stringify(unique);
          const response = await app.inject({
            method: 'POST',
            url: '/webhooks/stripe',
            headers: {
              'content-type': 'application/json',
              'stripe-signature': signStripePayload(payload, stripeSecret),
            },
            payload,
          });
          expect([200, 400]).toContain(response.statusCode);
          if (response.statusCode === 200) {
            const row = await scratch.db
              .selectFrom('webhook_events')
              .select(['raw_body', 'result'])
              .where('event_id', '=', unique.id)
              .executeTakeFirstOrThrow();
            expect(row.raw_body?.toString('utf8')).toBe(payload);
          }
        },
      ),
      { numRuns: RUNS * 10 },
    );
    await app.webhookDispatcher.idle();
  }, 300_000);

  it('records or refuses any event Resend could sign — never a 5xx', async () => {
    const signer = new Webhook(RESEND_SECRET);
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          type: fc.oneof(fc.constantFrom('email.delivered', 'email.bounced'), text),
          created_at: fc.oneof(
            text,
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
          ),
          data: fc.record({ email_id: text, subject: text }, { requiredKeys: [] }),
        }),
        async (event) => {
          const id = `msg_${randomBytes(8).toString('hex')}`;
          const payload = JSON.stringify(event);
          const timestamp = new Date();
          const response = await app.inject({
            method: 'POST',
            url: '/webhooks/resend',
            headers: {
              'content-type': 'application/json',
              'svix-id': id,
              'svix-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
              'svix-signature': signer.sign(id, timestamp, payload),
            },
            payload,
          });
          expect([200, 400]).toContain(response.statusCode);
        },
      ),
      { numRuns: RUNS * 5 },
    );
  }, 300_000);
});
