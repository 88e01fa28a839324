import { z } from 'zod';
import * as schemas from './schemas.ts';
import { ADMIN_OPERATIONS } from './routes/admin-schemas.ts';
import { CODEC_OPERATIONS } from './routes/codec.ts';
import type { Operation } from './operation.ts';

type Json = Record<string, unknown>;

const bad = ['invalid request, naming each field', schemas.errorResponse] as [string, z.ZodType];
const unauthorized = ['no valid bearer token', schemas.errorResponse] as [string, z.ZodType];
const notFound = ['unknown — or someone else’s — entitlement', schemas.errorResponse] as [
  string,
  z.ZodType,
];

/**
 * What every route can answer besides its own statuses, added where a route does not name
 * them: the input guard's 400 on any route (a NUL or invalid UTF-8 in any field, a JSON body
 * that does not parse), the body limit's 413 on routes that take a body, the per-caller rate
 * limit's 429 on /v1/ and /admin/, and the operator token's 401/403. `test/api/openapi.test.ts`
 * probes every route and fails on any status not listed here.
 */
function withCrossCuttingResponses(operation: Operation): Operation {
  const responses = { ...operation.responses };
  responses[400] ??= [
    'a path, query or body field is not text (NUL, invalid UTF-8) or the body is not JSON — named',
    schemas.errorResponse,
  ];
  if (operation.method !== 'get') responses[413] ??= ['body over the limit', schemas.errorResponse];
  if (operation.path.startsWith('/v1/') || operation.path.startsWith('/admin/'))
    responses[429] ??= [
      'rate limited (per caller, fleet-wide); see Retry-After',
      schemas.errorResponse,
    ];
  if (operation.security === 'operator') {
    responses[401] ??= ['no valid operator token', schemas.errorResponse];
    responses[403] ??= ['the operator’s role is too low', schemas.errorResponse];
  }
  return { ...operation, responses };
}

const ROUTES: Operation[] = [
  {
    method: 'get',
    path: '/v1/entitlements',
    summary: 'The signed-in user’s shelf, newest purchase first',
    security: 'endUser',
    query: schemas.shelfQuery,
    responses: {
      200: ['one page of the shelf', schemas.shelfResponse],
      400: bad,
      401: unauthorized,
    },
  },
  {
    method: 'post',
    path: '/v1/entitlements/{id}/archive',
    summary: 'Archive an entitlement',
    security: 'endUser',
    params: schemas.entitlementParams,
    responses: { 200: ['archived', schemas.archiveResponse], 401: unauthorized, 404: notFound },
  },
  {
    method: 'delete',
    path: '/v1/entitlements/{id}/archive',
    summary: 'Unarchive an entitlement',
    security: 'endUser',
    params: schemas.entitlementParams,
    responses: { 200: ['unarchived', schemas.archiveResponse], 401: unauthorized, 404: notFound },
  },
  {
    method: 'post',
    path: '/v1/entitlements/{id}/download-url',
    summary: 'A fresh, minute-long signed download URL (the download is logged)',
    security: 'endUser',
    params: schemas.entitlementParams,
    body: schemas.downloadBody,
    responses: {
      200: ['the URL', schemas.downloadUrlResponse],
      400: bad,
      401: unauthorized,
      403: ['suspended or revoked', schemas.errorResponse],
      404: notFound,
      409: ['still being prepared', schemas.errorResponse],
    },
  },
  {
    method: 'post',
    path: '/v1/entitlements/{id}/resend-email',
    summary: 'Email fresh download links (at most 3 an hour per order)',
    security: 'endUser',
    params: schemas.entitlementParams,
    responses: {
      202: ['the resend workflow started', schemas.workflowAccepted],
      401: unauthorized,
      403: ['suspended or revoked', schemas.errorResponse],
      404: notFound,
      429: ['too many resends; see Retry-After', schemas.errorResponse],
    },
  },
  {
    method: 'post',
    path: '/v1/claims',
    summary:
      'Link a guest purchase to the signed-in account: with the claim link’s token, or a verified billing email',
    security: 'endUser',
    body: schemas.claimBody,
    responses: {
      200: ['how many purchases were claimed', schemas.claimResponse],
      400: bad,
      401: unauthorized,
      403: ['no token and no verified email', schemas.errorResponse],
      404: ['used, expired or unknown claim token (all alike)', schemas.errorResponse],
    },
  },
  {
    method: 'post',
    path: '/v1/rewards',
    summary: 'Grant a mission or coupon reward (idempotent on reward_id)',
    security: 'service',
    body: schemas.rewardGrantSchema,
    responses: {
      202: ['recorded; fulfillment started', schemas.rewardGrantResponse],
      400: bad,
      401: ['no valid service token', schemas.errorResponse],
      503: ['recorded; Temporal unavailable — retry the same request', schemas.errorResponse],
    },
  },
  {
    method: 'delete',
    path: '/v1/rewards/{rewardId}',
    summary: 'Take a reward back (revokes, emails once, audits the mission)',
    security: 'service',
    params: schemas.rewardParams,
    body: schemas.rewardRevocationSchema,
    responses: {
      202: ['revocation started', schemas.rewardRevocationResponse],
      400: bad,
      401: ['no valid service token', schemas.errorResponse],
      404: ['unknown reward', schemas.errorResponse],
    },
  },
  {
    method: 'post',
    path: '/webhooks/stripe',
    summary: 'Stripe events (signed; raw JSON body)',
    security: 'stripeSignature',
    responses: {
      200: [
        'recorded with its audit row (one write); its workflow is started right after',
        schemas.stripeWebhookResponse,
      ],
      400: ['missing or bad signature, not JSON, not an event', schemas.errorResponse],
      413: ['body over the limit', schemas.errorResponse],
      500: ['the event could not be recorded; Stripe retries', schemas.errorResponse],
    },
  },
  {
    method: 'post',
    path: '/webhooks/resend',
    summary: 'Resend delivery events (Svix-signed)',
    security: 'svixSignature',
    responses: {
      200: ['recorded', schemas.resendWebhookResponse],
      400: ['bad signature or not an email event', schemas.errorResponse],
      503: ['RESEND_WEBHOOK_SECRET not configured', schemas.errorResponse],
    },
  },
  {
    method: 'get',
    path: '/downloads/{token}',
    summary: 'An emailed download link: checked now, then redirected to a minute-long storage URL',
    params: schemas.tokenParams,
    responses: {
      302: ['to the storage URL', null],
      403: ['access withdrawn (HTML page)', null],
      404: ['invalid link (HTML page)', null],
      409: ['still being prepared (HTML page)', null],
      410: ['expired: how to get a fresh link (HTML page)', null],
      429: ['rate limited', schemas.errorResponse],
    },
  },
  {
    method: 'get',
    path: '/claim/{token}',
    summary: 'A claim link from an email: redirects to the storefront’s claim page',
    params: schemas.tokenParams,
    responses: { 302: ['to STOREFRONT_URL/claim?token=…', null] },
  },
  {
    method: 'get',
    path: '/storage/local/{token}',
    summary: 'A signed local-storage URL (local driver only)',
    params: schemas.tokenParams,
    responses: {
      200: ['the file, as an attachment', null],
      403: ['expired or altered', schemas.errorResponse],
      404: ['no such file', schemas.errorResponse],
    },
  },
  {
    method: 'get',
    path: '/healthz',
    summary: 'The process is alive',
    responses: { 200: ['alive', schemas.healthResponse] },
  },
  {
    method: 'get',
    path: '/readyz',
    summary: 'Postgres and Temporal answer',
    responses: {
      200: ['ready', schemas.readinessResponse],
      503: ['not ready', schemas.readinessResponse],
    },
  },
  {
    method: 'get',
    path: '/metrics',
    summary: 'Prometheus metrics',
    responses: { 200: ['text exposition format', null] },
  },
  {
    method: 'get',
    path: '/docs',
    summary: 'This document (a browser asking for HTML is sent to the readable reference)',
    responses: {
      200: ['OpenAPI 3.1', null],
      303: ['to /docs/reference/ (Accept: text/html)', null],
    },
  },
  {
    method: 'get',
    path: '/docs/openapi.json',
    summary: 'This document, at a stable path',
    responses: { 200: ['OpenAPI 3.1', null] },
  },
  {
    method: 'get',
    path: '/docs/reference/',
    summary: 'This document as a readable reference (HTML)',
    responses: { 200: ['the reference page', null] },
  },
  {
    method: 'get',
    path: '/docs/reference',
    summary: 'Redirects to /docs/reference/',
    responses: { 301: ['to /docs/reference/', null] },
  },
  {
    method: 'get',
    path: '/docs/reference/js/scalar.js',
    summary: 'The reference page’s script',
    responses: { 200: ['JavaScript', null] },
  },
  ...ADMIN_OPERATIONS,
  ...CODEC_OPERATIONS,
];

/**
 * Every route of the api, with its request and response schemas. A method a documented path
 * does not serve answers 405 with an `Allow` header.
 */
export const OPERATIONS: Operation[] = ROUTES.map(withCrossCuttingResponses);

const jsonSchema = (schema: z.ZodType): Json => {
  const converted = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Json;
  // The document declares its dialect once; each embedded schema must not repeat it.
  delete converted['$schema'];
  return converted;
};

function parameters(operation: Operation): Json[] {
  const from = (where: 'path' | 'query', object: z.ZodObject | undefined) =>
    Object.entries(object?.shape ?? {}).map(([name, schema]) => ({
      name,
      in: where,
      required: where === 'path' || !(schema as z.ZodType).safeParse(undefined).success,
      schema: jsonSchema(schema as z.ZodType),
    }));
  return [...from('path', operation.params), ...from('query', operation.query)];
}

/** The OpenAPI 3.1 document, generated from the zod schemas the routes validate with. */
export function openApiDocument(serverUrl: string): Json {
  const paths: Record<string, Json> = {};
  for (const operation of OPERATIONS) {
    const responses = Object.fromEntries(
      Object.entries(operation.responses).map(([status, [description, schema]]) => [
        status,
        schema
          ? { description, content: { 'application/json': { schema: jsonSchema(schema) } } }
          : { description },
      ]),
    );
    paths[operation.path] = {
      ...paths[operation.path],
      [operation.method]: {
        summary: operation.summary,
        ...(operation.security ? { security: [{ [operation.security]: [] }] } : {}),
        parameters: parameters(operation),
        ...(operation.body
          ? {
              requestBody: {
                required: true,
                content: { 'application/json': { schema: jsonSchema(operation.body) } },
              },
            }
          : {}),
        responses,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Fulfillment Orchestrator',
      version: '0.1.0',
      description:
        'Storefront, rewards, webhooks, download links and the admin API. See README.md. A method a documented path does not serve answers 405 with an Allow header; an unknown path 404.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        endUser: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'the end user’s JWT (Auth0), checked against AUTH_JWKS_URL',
        },
        service: {
          type: 'http',
          scheme: 'bearer',
          description: 'a service token from SERVICE_TOKENS',
        },
        operator: {
          type: 'http',
          scheme: 'bearer',
          description: 'an operator token from OPERATOR_TOKENS (role support or admin)',
        },
        stripeSignature: { type: 'apiKey', in: 'header', name: 'Stripe-Signature' },
        svixSignature: { type: 'apiKey', in: 'header', name: 'svix-signature' },
      },
    },
    paths,
  };
}
