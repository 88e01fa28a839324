import { describe, expect, it } from 'vitest';
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
