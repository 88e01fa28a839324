import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmailSendError } from '../../drivers/email/errors.ts';
import { createResendDriver } from '../../drivers/email/resend.ts';
import { startResendStandIn, type ResendStandIn } from '../../stack/resend-stand-in.ts';

let standIn: ResendStandIn;
beforeAll(async () => {
  standIn = await startResendStandIn();
});
afterAll(async () => {
  await standIn?.close();
});

const message = (key: string, overrides: Record<string, string> = {}) => ({
  idempotencyKey: key,
  from: 'Shop <orders@example.com>',
  to: 'buyer@example.com',
  subject: 'Your order is ready',
  html: '<p>Thanks</p>',
  text: 'Thanks',
  ...overrides,
});

async function sendFailure(
  driver: ReturnType<typeof createResendDriver>,
  key: string,
): Promise<EmailSendError> {
  const error = await driver.send(message(key)).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(EmailSendError);
  return error as EmailSendError;
}

describe('the Resend driver against the documented POST /emails', () => {
  it('sends the documented request: Bearer key, JSON body and the Idempotency-Key header', async () => {
    const driver = createResendDriver({ apiKey: 're_test_contract', baseUrl: standIn.url });
    const sent = await driver.send(message('delivery:order-1:1'));

    const request = standIn.requests.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/emails');
    expect(request.headers.authorization).toBe('Bearer re_test_contract');
    expect(request.headers['content-type']).toContain('application/json');
    expect(request.headers['idempotency-key']).toBe('delivery:order-1:1');
    expect(JSON.parse(request.body)).toEqual({
      from: 'Shop <orders@example.com>',
      to: ['buyer@example.com'],
      subject: 'Your order is ready',
      html: '<p>Thanks</p>',
      text: 'Thanks',
    });
    expect(sent).toEqual({ driver: 'resend', providerMessageId: standIn.sent.at(-1)!.id });
  });

  it('delivers once when the same key is sent twice (a retry after the provider accepted)', async () => {
    const driver = createResendDriver({ apiKey: 're_test_contract', baseUrl: standIn.url });
    const before = standIn.sent.length;
    const first = await driver.send(message('delivery:order-2:1'));
    const second = await driver.send(message('delivery:order-2:1'));

    expect(second.providerMessageId).toBe(first.providerMessageId);
    expect(standIn.sent.length - before).toBe(1);
  });

  it('turns 429 into a retryable error that carries Retry-After', async () => {
    const driver = createResendDriver({ apiKey: 're_test_contract', baseUrl: standIn.url });
    standIn.failNext(1, 429, 7);
    const error = await sendFailure(driver, 'delivery:order-3:1');
    expect(error).toMatchObject({ retryable: true, status: 429, retryAfterMs: 7000 });
    expect(error.message).toContain('rate_limit_exceeded');
  });

  it('treats 5xx and an unreachable API as retryable, and a rejected message as permanent', async () => {
    const driver = createResendDriver({ apiKey: 're_test_contract', baseUrl: standIn.url });
    standIn.failNext(1, 500);
    expect(await sendFailure(driver, 'delivery:order-4:1')).toMatchObject({
      retryable: true,
      status: 500,
    });

    const unreachable = createResendDriver({
      apiKey: 're_test_contract',
      baseUrl: 'http://127.0.0.1:1',
    });
    expect(await sendFailure(unreachable, 'delivery:order-5:1')).toMatchObject({
      retryable: true,
      status: null,
    });

    const rejected = await driver
      .send(message('delivery:order-6:1', { subject: '' }))
      .catch((e: unknown) => e);
    expect(rejected).toMatchObject({ retryable: false, status: 422 });
  });
});

describe('the stand-in keeps Resend’s documented contract', () => {
  const post = (key: string, body: object) =>
    fetch(`${standIn.url}/emails`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer re_test_contract',
        'content-type': 'application/json',
        'idempotency-key': key,
      },
      body: JSON.stringify(body),
    });
  const body = { from: 'a@example.com', to: ['b@example.com'], subject: 's', text: 't' };

  it('answers { id } and, for the same key and payload, the same id without sending again', async () => {
    const first = (await (await post('contract-same', body)).json()) as { id: string };
    const again = (await (await post('contract-same', body)).json()) as { id: string };
    expect(first.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(again.id).toBe(first.id);
    expect(standIn.sent.filter((s) => s.idempotencyKey === 'contract-same')).toHaveLength(1);
  });

  it('answers 409 invalid_idempotent_request for the same key with another payload', async () => {
    await post('contract-conflict', body);
    const conflict = await post('contract-conflict', { ...body, subject: 'other' });
    expect(conflict.status).toBe(409);
    expect(await conflict.json()).toEqual({
      statusCode: 409,
      name: 'invalid_idempotent_request',
      message: expect.any(String) as string,
    });
  });

  it('rejects keys over 256 characters, a missing key and missing fields with the error shape', async () => {
    expect((await post('k'.repeat(257), body)).status).toBe(400);
    const missing = await post('contract-missing', {
      from: 'a@example.com',
      to: ['b@example.com'],
      text: 't',
    });
    expect(missing.status).toBe(422);
    expect(await missing.json()).toMatchObject({ statusCode: 422, name: 'missing_required_field' });
    const anonymous = await fetch(`${standIn.url}/emails`, {
      method: 'POST',
      body: JSON.stringify(body),
    });
    expect(anonymous.status).toBe(401);
  });
});
