import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Payload } from '@temporalio/common';
import protoPackage from '@temporalio/proto';
import { WorkflowFailedError } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { createFulfillmentWorker } from '../../worker/worker.ts';
import type { fulfillmentWorkflow } from '../../workflows/fulfillment.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';
import { waitFor } from '../../stack/processes.ts';
import { recordStripeEvent, stripeTestId } from '../../stack/stripe-events.ts';
import {
  EncryptionCodec,
  generatePayloadKeyEntry,
  parsePayloadKeys,
} from '../../security/payload-codec.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, testConfig, testEnv, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

const run = promisify(execFile);
const operatorToken = randomBytes(24).toString('hex');
const uiOrigin = 'http://localhost:8233';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({
    env: { OPERATOR_TOKENS: `codec-test:support:${operatorToken}` },
  });
});
afterAll(async () => {
  await stack?.close();
});

type JsonPayload = { metadata: Record<string, string>; data: string };
const toJson = (payload: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
});
const encodingOf = (payload: Payload): string =>
  Buffer.from(payload.metadata?.['encoding'] ?? new Uint8Array()).toString('utf8');

function codecCall(
  action: 'decode' | 'encode',
  payloads: JsonPayload[],
  headers: Record<string, string> = { authorization: `Bearer ${operatorToken}` },
  app = stack.app,
) {
  return app.inject({
    method: 'POST',
    url: `/codec/${action}`,
    headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
    payload: { payloads },
  });
}

interface FoundPayloads {
  search: Payload[];
  trace: Payload[];
  data: Payload[];
}

/**
 * Every Payload message in a history (found by shape: metadata + data), split into search
 * attributes (the server indexes those; the codec never sees them), the tracing interceptors'
 * `_tracer-data` headers (headers bypass the codec) and everything else.
 */
function payloadsIn(
  value: unknown,
  found: FoundPayloads = { search: [], trace: [], data: [] },
  under: 'search' | 'trace' | 'data' = 'data',
): FoundPayloads {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  const candidate = value as { metadata?: unknown; data?: unknown };
  if (candidate.metadata && typeof candidate.metadata === 'object' && 'data' in candidate) {
    found[under].push(value);
    return found;
  }
  for (const [key, child] of Object.entries(value))
    payloadsIn(
      child,
      found,
      key === 'searchAttributes' ? 'search' : key === '_tracer-data' ? 'trace' : under,
    );
  return found;
}

/** Runs a real purchase through webhook, workflow and activities; returns its raw history. */
async function purchaseAndRawHistory(email: string) {
  const paymentIntentId = stripeTestId('pi');
  const response = await postSignedEvent(
    stack.app,
    paymentSucceeded({ paymentIntentId, email }),
    stack.webhookSecret,
  );
  expect(response.statusCode).toBe(200);
  await settledFulfillment(stack.temporal, paymentIntentId);
  // The raw service call: no data converter, no codec — what Temporal's database holds.
  const { history } = await stack.temporal.workflowService.getWorkflowExecutionHistory({
    namespace: 'default',
    execution: { workflowId: fulfillmentWorkflowId(paymentIntentId) },
    maximumPageSize: 1000,
  });
  return { paymentIntentId, events: history?.events ?? [] };
}

describe('encrypted workflow payloads', () => {
  it('stores no buyer email in clear in the history, and the codec endpoint decodes the originals', async () => {
    const local = `ada.lovelace.${randomBytes(3).toString('hex')}`;
    const email = `${local}@example.com`;
    const { paymentIntentId, events } = await purchaseAndRawHistory(email);
    const rows = await purchaseRows(stack.db, paymentIntentId);
    expect(rows.emails.map((mail) => mail.kind)).toContain('delivery');

    // Not one byte sequence of the address (or its local part) anywhere in the history.
    const raw = Buffer.from(
      protoPackage.temporal.api.history.v1.History.encode({ events }).finish(),
    );
    expect(raw.includes(email)).toBe(false);
    expect(raw.includes(local)).toBe(false);

    // Every payload but the search attributes (indexed by the server), the tracing header
    // (below) and the SDK's own marker bookkeeping (a patch's id; a local activity's type,
    // attempt and times — its result is ours and encrypted) is ciphertext.
    const sdkOwned = events.flatMap((event) => {
      const details = event.markerRecordedEventAttributes?.details ?? {};
      const own = [...(details['patch-data']?.payloads ?? [])];
      if (event.markerRecordedEventAttributes?.markerName === 'core_local_activity')
        own.push(...(details['data']?.payloads ?? []));
      return own;
    });
    expect(sdkOwned.length).toBeGreaterThan(0);
    for (const payload of sdkOwned) {
      expect(encodingOf(payload)).toBe('json/plain');
      expect(Buffer.from(payload.data!).toString()).not.toContain('@');
    }
    const { search: searchPayloads, data: everyData, trace } = payloadsIn(events);
    const dataPayloads = everyData.filter((payload) => !sdkOwned.includes(payload));
    // The trace context header holds W3C trace context and nothing else (no baggage).
    for (const header of trace) {
      const carrier = JSON.parse(Buffer.from(header.data!).toString('utf8')) as object;
      expect(Object.keys(carrier).filter((k) => k !== 'traceparent' && k !== 'tracestate')).toEqual(
        [],
      );
    }
    expect(searchPayloads.map((p) => Buffer.from(p.data!).toString()).join()).not.toContain('@');
    // The input, the two local activities' results, the receipt's input and result at least.
    expect(dataPayloads.length).toBeGreaterThanOrEqual(5);
    expect(new Set(dataPayloads.map(encodingOf))).toEqual(new Set(['binary/encrypted']));
    expect(
      new Set(dataPayloads.map((p) => Buffer.from(p.metadata!['encryption-key-id']!).toString())),
    ).toEqual(new Set(['test-run']));

    // CustomerEmail holds the keyed hash, which the ops command computes from the address.
    const customerEmail = events
      .map(
        (event) =>
          event.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields?.[
            'CustomerEmail'
          ],
      )
      .find(Boolean);
    const indexed = JSON.parse(Buffer.from(customerEmail!.data!).toString('utf8')) as string;
    expect(indexed).toMatch(/^hmac1_[0-9a-f]{32}$/);
    const { stdout } = await run(
      process.execPath,
      ['scripts/ops.ts', 'temporal-query', '--email', `  ${email.toUpperCase()} `, '--json'],
      { env: { PATH: process.env['PATH'], ...testEnv() } },
    );
    const printed = JSON.parse(stdout) as { query: string; url: string };
    expect(printed.query).toBe(`CustomerEmail="${indexed}"`);
    expect(printed.url).toBe(
      `http://localhost:8233/namespaces/default/workflows?query=${encodeURIComponent(printed.query)}`,
    );
    // …and that query finds the buyer's workflow in Temporal's visibility store.
    await waitFor('the workflow listed by its CustomerEmail hash', async () => {
      for await (const execution of stack.temporal.workflow.list({ query: printed.query }))
        if (execution.workflowId === fulfillmentWorkflowId(paymentIntentId)) return true;
      return false;
    });

    // Through the endpoint, an engineer reads the original values back.
    const response = await codecCall('decode', dataPayloads.map(toJson), {
      authorization: `Bearer ${operatorToken}`,
      origin: uiOrigin,
    });
    expect(response.statusCode).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBe(uiOrigin);
    expect(response.headers['access-control-allow-credentials']).toBe('true');
    const decoded = response.json<{ payloads: JsonPayload[] }>().payloads;
    expect(decoded).toHaveLength(dataPayloads.length);
    expect(
      decoded.map((p) => Buffer.from(p.metadata['encoding']!, 'base64').toString()),
    ).not.toContain('binary/encrypted');
    const values = decoded.flatMap((p) => {
      try {
        return [JSON.parse(Buffer.from(p.data, 'base64').toString('utf8')) as unknown];
      } catch {
        return [];
      }
    });
    // The workflow's input, as the gateway started it.
    expect(values).toContainEqual(
      expect.objectContaining({ source: 'stripe', purchaseKey: paymentIntentId, paymentIntentId }),
    );
    // recordPurchase's result: the rows it wrote, and the hash instead of the address.
    expect(values).toContainEqual(
      expect.objectContaining({
        jobId: rows.jobs[0]!.id,
        orderId: rows.orders[0]!.id,
        customerEmailSearchValue: indexed,
      }),
    );
  });

  it('keeps failure messages encrypted and the address out when the provider rejects it by name', async () => {
    const sink = await startSmtpSink({
      rejectRecipient: (address) => `<${address}>: mailbox unavailable`,
    });
    const config = testConfig({ EMAIL_DRIVER: 'smtp', SMTP_URL: sink.url });
    // A task queue of its own: no other test file's worker (with the outbox) takes this run.
    const taskQueue = `codec-rejected-${randomBytes(4).toString('hex')}`;
    const { worker, connection } = await createFulfillmentWorker({
      ...temporalTargetFromConfig(config),
      taskQueue,
      deps: createActivityDeps(config, stack.db),
      workflowBundlePath: inject('workflowBundlePath'),
    });
    try {
      const paymentIntentId = stripeTestId('pi');
      const email = `rejected.${randomBytes(3).toString('hex')}@example.com`;
      const stripeEventId = await recordStripeEvent(
        stack.db,
        paymentSucceeded({ paymentIntentId, email }),
      );
      const failure = await worker.runUntil(async () => {
        const handle = await stack.temporal.workflow.start<typeof fulfillmentWorkflow>(
          'fulfillmentWorkflow',
          {
            taskQueue,
            workflowId: fulfillmentWorkflowId(paymentIntentId),
            args: [
              { source: 'stripe', purchaseKey: paymentIntentId, paymentIntentId, stripeEventId },
            ],
          },
        );
        return handle.result().then(
          () => null,
          (error: unknown) => error as Error,
        );
      });
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      // Through the client's codec the failure reads in full, the address scrubbed at source.
      const messages: string[] = [];
      for (let cause: unknown = failure; cause instanceof Error; cause = cause.cause)
        messages.push(cause.message);
      expect(messages.join('\n')).toContain('mailbox unavailable');
      expect(messages.join('\n')).toContain('[email]');
      const { history } = await stack.temporal.workflowService.getWorkflowExecutionHistory({
        namespace: 'default',
        execution: { workflowId: fulfillmentWorkflowId(paymentIntentId) },
        maximumPageSize: 1000,
      });
      const raw = Buffer.from(
        protoPackage.temporal.api.history.v1.History.encode(history!).finish(),
      );
      // In the stored history the failure's message and stack are ciphertext, like payloads.
      expect(raw.includes('mailbox unavailable')).toBe(false);
      expect(raw.includes('Encoded failure')).toBe(true);
      expect(raw.includes(email)).toBe(false);
    } finally {
      await connection.close();
      await sink.close();
    }
  });

  it('encodes an email into ciphertext and decodes it back through the endpoint', async () => {
    const email = 'grace.hopper@example.com';
    const plain = {
      metadata: { encoding: Buffer.from('json/plain').toString('base64') },
      data: Buffer.from(JSON.stringify({ email })).toString('base64'),
    };
    const encoded = await codecCall('encode', [plain]);
    expect(encoded.statusCode).toBe(200);
    const [cipher] = encoded.json<{ payloads: JsonPayload[] }>().payloads;
    expect(Buffer.from(cipher!.data, 'base64').includes(email)).toBe(false);
    expect(Buffer.from(cipher!.metadata['encoding']!, 'base64').toString()).toBe(
      'binary/encrypted',
    );

    const decoded = await codecCall('decode', [cipher!]);
    expect(decoded.statusCode).toBe(200);
    expect(decoded.json()).toEqual({ payloads: [plain] });
  });

  it('accepts an empty Payloads message as proto3 JSON writes it', async () => {
    const response = await stack.app.inject({
      method: 'POST',
      url: '/codec/encode',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${operatorToken}` },
      payload: {},
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ payloads: [] });
  });

  it('answers 401 without an operator token and names no payload', async () => {
    const cipher = toJson(
      (
        await new EncryptionCodec(parsePayloadKeys(testEnv()['PAYLOAD_ENCRYPTION_KEYS']!)).encode([
          { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"x@y.z"') },
        ])
      )[0]!,
    );
    const anonymous = await codecCall('decode', [cipher], { origin: uiOrigin });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.body).not.toContain('x@y.z');
    const wrong = await codecCall('decode', [cipher], {
      authorization: `Bearer ${randomBytes(24).toString('hex')}`,
    });
    expect(wrong.statusCode).toBe(401);
  });

  it('answers the Web UI preflight for allowed origins only', async () => {
    const preflight = (origin: string) =>
      stack.app.inject({
        method: 'OPTIONS',
        url: '/codec/decode',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const allowed = await preflight(uiOrigin);
    expect(allowed.statusCode).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe(uiOrigin);
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
    expect(String(allowed.headers['access-control-allow-headers'])).toContain('x-namespace');
    const foreign = await preflight('https://evil.example');
    expect(foreign.statusCode).toBe(403);
    expect(foreign.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('refuses a namespace it does not serve', async () => {
    const response = await codecCall('decode', [], {
      authorization: `Bearer ${operatorToken}`,
      'x-namespace': 'someone-else',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({ error: 'X-Namespace: this codec serves namespace default' });
  });

  it('keeps decoding payloads of a rotated-out key once a new key is put first', async () => {
    const oldEntry = generatePayloadKeyEntry('2025-old');
    const newEntry = generatePayloadKeyEntry('2026-new');
    const [encrypted] = await new EncryptionCodec(parsePayloadKeys(oldEntry)).encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"old secret"') },
    ]);
    const rotated = await startTestStack({
      worker: false,
      env: {
        OPERATOR_TOKENS: `codec-test:support:${operatorToken}`,
        PAYLOAD_ENCRYPTION_KEYS: `${newEntry},${oldEntry}`,
      },
    });
    const onlyNew = await startTestStack({
      worker: false,
      env: {
        OPERATOR_TOKENS: `codec-test:support:${operatorToken}`,
        PAYLOAD_ENCRYPTION_KEYS: newEntry,
      },
    });
    try {
      const auth = { authorization: `Bearer ${operatorToken}` };
      const decoded = await codecCall('decode', [toJson(encrypted!)], auth, rotated.app);
      expect(decoded.statusCode).toBe(200);
      const [payload] = decoded.json<{ payloads: JsonPayload[] }>().payloads;
      expect(Buffer.from(payload!.data, 'base64').toString()).toBe('"old secret"');

      // New payloads are written under the new key…
      const encoded = await codecCall(
        'encode',
        [toJson({ metadata: {}, data: Buffer.from('1') })],
        auth,
        rotated.app,
      );
      const [fresh] = encoded.json<{ payloads: JsonPayload[] }>().payloads;
      expect(Buffer.from(fresh!.metadata['encryption-key-id']!, 'base64').toString()).toBe(
        '2026-new',
      );

      // …and dropping the old key too early is a clear error, not garbage.
      const missing = await codecCall('decode', [toJson(encrypted!)], auth, onlyNew.app);
      expect(missing.statusCode).toBe(400);
      expect(missing.json<{ error: string }>().error).toContain('"2025-old"');
    } finally {
      await rotated.close();
      await onlyNew.close();
    }
  });
});
