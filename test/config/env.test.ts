import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../config/env.ts';

const valid = {
  STRIPE_SECRET_KEY: 'sk_test_123',
  STRIPE_WEBHOOK_SECRETS: 'whsec_old, whsec_new',
};

describe('loadConfig', () => {
  it('applies the documented defaults and splits rotated webhook secrets', () => {
    const config = loadConfig(valid);
    expect(config.STRIPE_WEBHOOK_SECRETS).toEqual(['whsec_old', 'whsec_new']);
    expect(config.PORT).toBe(3000);
    expect(config.PUBLIC_BASE_URL).toBe('http://localhost:3000');
    expect(config.EMAIL_DRIVER).toBe('outbox');
    expect(config.TEMPORAL_ADDRESS).toBe('localhost:7233');
  });

  it('names every missing or malformed variable in one message, without echoing values', () => {
    let message = '';
    try {
      loadConfig({ STRIPE_WEBHOOK_SECRETS: 'not-a-secret', PORT: 'eighty' });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toContain('STRIPE_SECRET_KEY');
    expect(message).toContain('STRIPE_WEBHOOK_SECRETS');
    expect(message).toContain('PORT');
    expect(message).not.toContain('not-a-secret');
  });

  it('parses service tokens as name:token pairs and rejects short tokens', () => {
    const token = 'x'.repeat(32);
    expect(loadConfig({ ...valid, SERVICE_TOKENS: `missions:${token}` }).SERVICE_TOKENS).toEqual([
      { name: 'missions', token },
    ]);
    expect(() => loadConfig({ ...valid, SERVICE_TOKENS: 'missions:short' })).toThrow(
      /SERVICE_TOKENS/,
    );
  });

  it('names the settings a chosen email driver needs', () => {
    expect(() => loadConfig({ ...valid, EMAIL_DRIVER: 'resend' })).toThrow(
      /RESEND_API_KEY: is required with EMAIL_DRIVER=resend/,
    );
    expect(() => loadConfig({ ...valid, EMAIL_FALLBACK_DRIVER: 'smtp' })).toThrow(/SMTP_URL/);
    expect(
      loadConfig({ ...valid, EMAIL_DRIVER: 'smtp', SMTP_URL: 'smtp://127.0.0.1:2525' })
        .EMAIL_DRIVER,
    ).toBe('smtp');
  });

  it('names the Supabase settings the supabase storage driver needs', () => {
    let message = '';
    try {
      loadConfig({ ...valid, STORAGE_DRIVER: 'supabase' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('SUPABASE_URL: is required with STORAGE_DRIVER=supabase');
    expect(message).toContain('SUPABASE_SERVICE_KEY: is required with STORAGE_DRIVER=supabase');
  });
});

describe('loadConfig in production', () => {
  /** A production environment with every development default replaced. */
  const production = {
    NODE_ENV: 'production',
    STRIPE_SECRET_KEY: 'sk_live_0123456789',
    STRIPE_WEBHOOK_SECRETS: 'whsec_0123456789',
    DATABASE_URL: 'postgres://fulfillment:pw@db.internal:5432/fulfillment',
    PUBLIC_BASE_URL: 'https://fulfillment.shop.test',
    STOREFRONT_URL: 'https://shop.test',
    AUTH_JWKS_URL: 'https://auth.shop.test/.well-known/jwks.json',
    AUTH_ISSUER: 'https://auth.shop.test/',
    EMAIL_DRIVER: 'resend',
    RESEND_API_KEY: 're_0123456789',
    EMAIL_FROM: 'Shop <orders@shop.test>',
    STORAGE_DRIVER: 'supabase',
    SUPABASE_URL: 'https://abcdefgh.supabase.co',
    SUPABASE_SERVICE_KEY: 'service-role-key-0123456789',
    DOWNLOAD_TOKEN_SECRETS: 'd'.repeat(40),
    PAYLOAD_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
    SEARCH_ATTRIBUTE_HASH_KEY: 'h'.repeat(40),
  };
  const problemsOf = (env: Record<string, string>): string => {
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    return '';
  };

  it('starts with real drivers, keys and URLs', () => {
    const config = loadConfig(production);
    expect(config.NODE_ENV).toBe('production');
    expect(config.EMAIL_DRIVER).toBe('resend');
  });

  it('refuses the development defaults, naming every one in one message', () => {
    const message = problemsOf({
      NODE_ENV: 'production',
      STRIPE_SECRET_KEY: 'sk_live_0123456789',
      STRIPE_WEBHOOK_SECRETS: 'whsec_0123456789',
      AUTH_JWKS_FILE: '.data/dev-jwks.json',
    });
    for (const expected of [
      'EMAIL_DRIVER: is outbox',
      'STORAGE_DRIVER: is local',
      'AUTH_JWKS_FILE: is a local key file',
      'AUTH_JWKS_URL: is required',
      'DATABASE_URL: is required: embedded PGlite is for local use only',
      'DOWNLOAD_TOKEN_SECRETS: is required',
      'PAYLOAD_ENCRYPTION_KEYS: is required',
      'SEARCH_ATTRIBUTE_HASH_KEY: is required',
      'PUBLIC_BASE_URL: is required: its default points at localhost',
      'STOREFRONT_URL: is required',
      'AUTH_ISSUER: is required',
      'EMAIL_FROM: is required',
    ])
      expect(message).toContain(expected);
    expect(message.match(/^ {2}- /gm)).toHaveLength(12);
  });

  it('says "is required" for a variable that is not set at all', () => {
    const message = problemsOf({ NODE_ENV: 'production' });
    expect(message).toContain('STRIPE_WEBHOOK_SECRETS: is required');
    expect(message).not.toContain('received undefined');
  });

  it('names a development default together with a malformed variable', () => {
    const message = problemsOf({ ...production, PORT: 'eighty', EMAIL_DRIVER: 'outbox' });
    expect(message).toContain('PORT:');
    expect(message).toContain('EMAIL_DRIVER: is outbox, which only records mail');
  });

  it('refuses the outbox as fallback and anonymous codec access', () => {
    const message = problemsOf({
      ...production,
      EMAIL_FALLBACK_DRIVER: 'outbox',
      CODEC_ALLOW_ANONYMOUS: 'true',
    });
    expect(message).toContain('EMAIL_FALLBACK_DRIVER: is outbox');
    expect(message).toContain('CODEC_ALLOW_ANONYMOUS: lets anyone decode workflow payloads');
  });

  it('refuses the example secrets from .env.example without printing them', () => {
    const examples = Object.fromEntries(
      [
        ...readFileSync(new URL('../../.env.example', import.meta.url), 'utf8').matchAll(
          /^# ([A-Z_]+)=(.*replace.*)$/gim,
        ),
      ].map((match) => [match[1]!, match[2]!]),
    );
    expect(Object.keys(examples)).toEqual(
      expect.arrayContaining(['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRETS', 'SERVICE_TOKENS']),
    );
    const message = problemsOf({ ...production, ...examples });
    for (const [key, value] of Object.entries(examples)) {
      expect(message).toContain(`${key}: is the example value from .env.example`);
      expect(message).not.toContain(value);
    }
  });

  it('accepts development defaults outside production', () => {
    expect(loadConfig({ ...valid, NODE_ENV: 'development' }).STORAGE_DRIVER).toBe('local');
  });
});
