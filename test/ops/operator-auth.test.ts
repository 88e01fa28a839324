import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { operatorOf, requireOperator, type OperatorToken } from '../../api/operator-auth.ts';
import { loadConfig } from '../../config/env.ts';

const base = { STRIPE_SECRET_KEY: 'sk_test_123', STRIPE_WEBHOOK_SECRETS: 'whsec_x' };
const long = 'a'.repeat(24);

describe('OPERATOR_TOKENS', () => {
  it('parses name:role:token entries', () => {
    const config = loadConfig({
      ...base,
      OPERATOR_TOKENS: `alice:admin:${long}, bob:support:${long}:with-colon`,
    });
    expect(config.OPERATOR_TOKENS).toEqual([
      { name: 'alice', role: 'admin', token: long },
      { name: 'bob', role: 'support', token: `${long}:with-colon` },
    ]);
  });

  it('refuses an unknown role or a short token, naming the variable and not the value', () => {
    for (const entry of [`carol:root:${long}`, 'dave:admin:short-token', `:admin:${long}`]) {
      let message = '';
      try {
        loadConfig({ ...base, OPERATOR_TOKENS: entry });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain('OPERATOR_TOKENS: each entry must be name:role:token');
      expect(message).not.toContain(entry.split(':')[2]!);
    }
  });
});

describe('requireOperator', () => {
  const tokens: OperatorToken[] = [
    { name: 'alice', role: 'admin', token: `admin-${long}` },
    { name: 'bob', role: 'support', token: `support-${long}` },
  ];
  async function app() {
    const server = Fastify();
    server.get('/read', { preHandler: requireOperator(tokens, 'support') }, (request) =>
      operatorOf(request),
    );
    server.post('/write', { preHandler: requireOperator(tokens, 'admin') }, (request) =>
      operatorOf(request),
    );
    await server.ready();
    return server;
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

  it('admits support and admin to support routes and sets request.operator', async () => {
    const server = await app();
    const read = await server.inject({ url: '/read', headers: bearer(`support-${long}`) });
    expect(read.json()).toEqual({ name: 'bob', role: 'support' });
    const admin = await server.inject({ url: '/read', headers: bearer(`admin-${long}`) });
    expect(admin.json()).toEqual({ name: 'alice', role: 'admin' });
  });

  it('answers 401 without or with an unknown token and 403 when the role is too low', async () => {
    const server = await app();
    expect((await server.inject({ url: '/read' })).statusCode).toBe(401);
    expect(
      (await server.inject({ url: '/read', headers: { authorization: `Basic ${long}` } }))
        .statusCode,
    ).toBe(401);
    const unknown = await server.inject({ url: '/read', headers: bearer(`nobody-${long}`) });
    expect(unknown.statusCode).toBe(401);
    expect(unknown.json()).toEqual({ error: 'a valid operator token is required' });
    const low = await server.inject({
      method: 'POST',
      url: '/write',
      headers: bearer(`support-${long}`),
    });
    expect(low.statusCode).toBe(403);
    expect(low.json()).toEqual({
      error: 'the admin role is required (this token is support)',
    });
  });
});
