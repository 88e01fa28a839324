// Stripe's API cannot run here: localstripe emulates part of it and stack/stripe-companion.ts the
// rest. These tests pin the companion to Stripe's published description of every call the
// service makes (test/fixtures/stripe/openapi.json, trimmed from Stripe's OpenAPI document):
// each request's parameters must be declared for its operation, each answer must match the
// operation's response schema, and Stripe's own fixtures must match the same schemas.
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStripeClient } from '../../drivers/stripe.ts';
import { startStripeCompanion, type StripeCompanion } from '../../stack/stripe-companion.ts';
import {
  chargeObject,
  checkoutPaymentIntentObject,
  checkoutPurchase,
  checkoutSessionObject,
  eventOf,
  lineItemObjects,
} from '../helpers/stripe-objects.ts';

interface Parameter {
  name: string;
  in: 'query' | 'path';
  required?: boolean;
  schema: object;
}
interface OpenApi {
  paths: Record<
    string,
    {
      get: {
        parameters: Parameter[];
        responses: Record<string, { content: { 'application/json': { schema: object } } }>;
      };
    }
  >;
  components: { schemas: Record<string, object> };
}
const spec = JSON.parse(
  readFileSync(new URL('../fixtures/stripe/openapi.json', import.meta.url), 'utf8'),
) as OpenApi;
const fixtures = JSON.parse(
  readFileSync(new URL('../fixtures/stripe/fixtures.json', import.meta.url), 'utf8'),
) as { resources: Record<string, object> };

const ajv = new Ajv({
  strict: false,
  validateFormats: false,
  allErrors: true,
  coerceTypes: 'array',
});
ajv.addSchema({ components: spec.components }, 'stripe');
const withRefs = (schema: object): object =>
  JSON.parse(JSON.stringify(schema).replaceAll('"#/components/', '"stripe#/components/')) as object;

function responseValidator(template: string, status: number): ValidateFunction {
  const responses = spec.paths[template]!.get.responses;
  const response = status === 200 ? responses['200']! : responses['default']!;
  return ajv.compile(withRefs(response.content['application/json'].schema));
}

/** The query string as Stripe's form encoding means it: `a[b]=1` → { a: { b: '1' } }, `a[0]` → arrays. */
function decodeQuery(query: URLSearchParams): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of query) {
    const match = /^([^[]+)(?:\[([^\]]*)\])?$/.exec(key);
    if (!match) throw new Error(`unexpected parameter ${key}`);
    const [, name, sub] = match as unknown as [string, string, string | undefined];
    if (sub === undefined) out[name] = value;
    else if (sub === '' || /^\d+$/.test(sub))
      out[name] = [...((out[name] as string[]) ?? []), value];
    else out[name] = { ...(out[name] ?? {}), [sub]: value };
  }
  return out;
}

function queryValidator(template: string): ValidateFunction {
  const parameters = spec.paths[template]!.get.parameters.filter((p) => p.in === 'query');
  return ajv.compile({
    type: 'object',
    properties: Object.fromEntries(parameters.map((p) => [p.name, p.schema])),
    required: parameters.filter((p) => p.required).map((p) => p.name),
    additionalProperties: false,
  });
}

let companion: StripeCompanion;
beforeAll(async () => {
  companion = await startStripeCompanion();
});
afterAll(async () => {
  await companion?.close();
});

/** Every request the companion answered since `from` conforms to the description. */
function expectServedToConform(from: number): void {
  const served = companion.served.slice(from);
  expect(served.length).toBeGreaterThan(0);
  for (const request of served) {
    expect(Object.keys(spec.paths)).toContain(request.template);
    const query = queryValidator(request.template);
    const decoded = decodeQuery(request.query);
    expect(query(decoded), `${request.template} ${JSON.stringify(query.errors)}`).toBe(true);
    const response = responseValidator(request.template, request.status);
    expect(
      response(structuredClone(request.body)),
      `${request.template} → ${request.status}: ${JSON.stringify(response.errors)}`,
    ).toBe(true);
  }
}

describe('the contract check itself', () => {
  it('refuses a parameter the operation does not declare and an answer of the wrong shape', () => {
    const query = queryValidator('/v1/checkout/sessions');
    expect(query(decodeQuery(new URLSearchParams('payment_intent=pi_1&limit=1')))).toBe(true);
    expect(query(decodeQuery(new URLSearchParams('payment_intent_id=pi_1')))).toBe(false);
    const response = responseValidator('/v1/payment_intents/{intent}', 200);
    expect(response({ id: 'pi_1', object: 'charge' })).toBe(false);
  });
});

describe('Stripe’s published fixtures match the trimmed description', () => {
  it.each([
    'checkout.session',
    'item',
    'customer',
    'charge',
    'payment_intent',
    'event',
    'webhook_endpoint',
    'price',
    'product',
    'refund',
    'dispute',
  ])('%s', (type) => {
    const validate = ajv.compile({ $ref: `stripe#/components/schemas/${type}` });
    expect(
      validate(structuredClone(fixtures.resources[type])),
      JSON.stringify(validate.errors),
    ).toBe(true);
  });
});

describe('every Stripe call the service makes, against the companion, per the description', () => {
  const purchase = checkoutPurchase({
    email: 'contract@example.com',
    priceIds: ['price_contract_1', 'price_contract_2'],
    customerId: 'cus_contract_1',
  });
  beforeAll(() => {
    companion.put(checkoutSessionObject(purchase));
    companion.put(checkoutPaymentIntentObject(purchase));
    companion.put(chargeObject(purchase));
    companion.putLineItems(purchase.sessionId, lineItemObjects(purchase));
    companion.put({
      ...(fixtures.resources['customer'] as { id: string; object: string }),
      id: 'cus_contract_1',
      email: 'contract@example.com',
    });
    companion.put(eventOf('payment_intent.succeeded', checkoutPaymentIntentObject(purchase)));
    companion.put({
      ...(fixtures.resources['webhook_endpoint'] as { id: string; object: string }),
    });
    companion.put({ ...(fixtures.resources['price'] as { id: string; object: string }) });
    companion.put({ ...(fixtures.resources['product'] as { id: string; object: string }) });
  });
  const stripe = () => createStripeClient('sk_test_contract', companion.url);

  it('checkout.sessions.list({ payment_intent, limit: 1 }) (activities/purchase.ts)', async () => {
    const from = companion.served.length;
    const sessions = await stripe().checkout.sessions.list({
      payment_intent: purchase.paymentIntentId,
      limit: 1,
    });
    expect(sessions.data.map((s) => s.id)).toEqual([purchase.sessionId]);
    expectServedToConform(from);
  });

  it('checkout.sessions.listLineItems(id, { limit: 100 }), auto-paginated', async () => {
    const from = companion.served.length;
    const ids: string[] = [];
    for await (const line of stripe().checkout.sessions.listLineItems(purchase.sessionId, {
      limit: 100,
    }))
      ids.push(line.price!.id);
    expect(ids).toEqual(purchase.priceIds);
    await expect(stripe().checkout.sessions.listLineItems('cs_missing')).rejects.toMatchObject({
      statusCode: 404,
      code: 'resource_missing',
    });
    expectServedToConform(from);
  });

  it('customers.retrieve, charges.retrieve, paymentIntents.retrieve', async () => {
    const from = companion.served.length;
    expect((await stripe().customers.retrieve('cus_contract_1')).id).toBe('cus_contract_1');
    expect((await stripe().charges.retrieve(purchase.chargeId)).billing_details.email).toBe(
      'contract@example.com',
    );
    expect((await stripe().paymentIntents.retrieve(purchase.paymentIntentId)).latest_charge).toBe(
      purchase.chargeId,
    );
    expectServedToConform(from);
  });

  it('charges.list({ created: { gt }, limit: 100 }) (support/reconciliation.ts)', async () => {
    const from = companion.served.length;
    const ids: string[] = [];
    for await (const charge of stripe().charges.list({
      created: { gt: Math.floor(Date.now() / 1000) - 3600 },
      limit: 100,
    }))
      ids.push(charge.id);
    expect(ids).toContain(purchase.chargeId);
    expectServedToConform(from);
  });

  it('events.list with created[gte], type (gateway/gap-check.ts, support/reconciliation.ts)', async () => {
    const from = companion.served.length;
    const since = Math.floor(Date.now() / 1000) - 3600;
    const all: string[] = [];
    for await (const event of stripe().events.list({ created: { gte: since }, limit: 100 }))
      all.push(event.type);
    expect(all).toContain('payment_intent.succeeded');
    const typed = await stripe().events.list({
      type: 'payment_intent.succeeded',
      created: { gte: since },
      limit: 100,
    });
    expect(typed.data.every((e) => e.type === 'payment_intent.succeeded')).toBe(true);
    expectServedToConform(from);
  });

  it('webhookEndpoints.list, prices.list, products.list (npm run ops -- preflight)', async () => {
    const from = companion.served.length;
    expect((await stripe().webhookEndpoints.list({ limit: 100 })).data).toHaveLength(1);
    expect((await stripe().prices.list({ active: true, limit: 100 })).data).toHaveLength(1);
    expect((await stripe().products.list({ active: true, limit: 100 })).data).toHaveLength(1);
    expectServedToConform(from);
  });

  it('rejects what Stripe rejects: a limit out of range, an unknown cursor, no key', async () => {
    const from = companion.served.length;
    await expect(stripe().charges.list({ limit: 101 })).rejects.toMatchObject({
      statusCode: 400,
      param: 'limit',
    });
    await expect(
      stripe().checkout.sessions.list({ starting_after: 'cs_unknown' }),
    ).rejects.toMatchObject({ statusCode: 400, param: 'starting_after' });
    expect((await fetch(`${companion.url}/v1/checkout/sessions`)).status).toBe(401);
    expectServedToConform(from);
  });
});
