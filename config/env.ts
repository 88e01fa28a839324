import { z } from 'zod';

const commaList = z.string().transform((value) =>
  value
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0),
);

/**
 * Every environment variable the service reads. `.env.example` lists them with their defaults;
 * README.md explains each. Parsed once at start-up by `loadConfig`.
 */
export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** Base of links the service puts in emails; defaults to http://localhost:<PORT>. */
  PUBLIC_BASE_URL: z.url().optional(),

  DATABASE_URL: z.url().optional(),
  PGLITE_DATA_DIR: z.string().min(1).default('.data/pglite'),

  TEMPORAL_ADDRESS: z.string().min(1).default('localhost:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),

  STRIPE_SECRET_KEY: z
    .string({ error: 'is required (a Stripe secret key, sk_…)' })
    .regex(/^(sk|rk)_/, 'must be a Stripe secret or restricted key (sk_… or rk_…)'),
  STRIPE_API_URL: z.url().optional(),
  STRIPE_WEBHOOK_SECRETS: commaList.pipe(
    z
      .array(z.string().startsWith('whsec_', 'every secret must start with whsec_'))
      .min(1, 'needs at least one webhook signing secret (whsec_…)'),
  ),

  /** Largest webhook body accepted (bytes); larger ones get 413 and an audit row. */
  WEBHOOK_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(512 * 1024),
  /** Webhook requests per minute per client address before 429 (Stripe then retries). */
  WEBHOOK_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(6000),
  /** How often the relay looks for recorded events Temporal has not received yet. */
  WEBHOOK_RELAY_INTERVAL_SECONDS: z.coerce.number().min(0.1).default(2),
  /** How long the inbox keeps processed events (Stripe itself keeps them 30 days). */
  WEBHOOK_RETENTION_MONTHS: z.coerce.number().int().min(1).default(13),
  /** How often to compare the inbox with Stripe's Events API; 0 turns the gap check off. */
  STRIPE_GAP_CHECK_INTERVAL_MINUTES: z.coerce.number().min(0).default(10),
  /** How far back the gap check looks (Stripe retries deliveries for up to 3 days). */
  STRIPE_GAP_CHECK_WINDOW_HOURS: z.coerce.number().min(1).max(720).default(72),

  STORAGE_DRIVER: z.enum(['local', 'supabase']).default('local'),
  /** Supabase project URL (https://<ref>.supabase.co), service-role key and bucket. */
  SUPABASE_URL: z.url().optional(),
  SUPABASE_SERVICE_KEY: z.string().min(20).optional(),
  SUPABASE_BUCKET: z.string().min(1).default('products'),
  /** Root folder of the local storage driver. */
  STORAGE_LOCAL_DIR: z.string().min(1).default('.data/storage'),

  /**
   * Secrets that sign emailed download links and local storage URLs (comma-separated: the
   * first signs, all verify, so they rotate). Unset: receipts carry no links and
   * /downloads answers 503. `npm start` generates one.
   */
  DOWNLOAD_TOKEN_SECRETS: commaList
    .pipe(z.array(z.string().min(32, 'every secret needs 32+ characters')).min(1))
    .optional(),
  /** The storefront users' JWT key set (Auth0: https://<tenant>/.well-known/jwks.json). */
  AUTH_JWKS_URL: z.url().optional(),
  /** A JWKS file instead of a URL (local use: `npm start` generates one). */
  AUTH_JWKS_FILE: z.string().min(1).optional(),
  AUTH_ISSUER: z.string().min(1).default('http://localhost:3000/'),
  AUTH_AUDIENCE: z.string().min(1).default('fulfillment-api'),
  /** Where the storefront lives: links in emails and error pages send buyers there. */
  STOREFRONT_URL: z.url().default('http://localhost:5173'),

  /** Alert sinks: a Slack incoming webhook and a generic JSON webhook (both optional). */
  ALERT_SLACK_WEBHOOK_URL: z.url().optional(),
  ALERT_WEBHOOK_URL: z.url().optional(),

  /**
   * Service tokens for POST /v1/rewards, as comma-separated `name:token` pairs (list two to
   * rotate). The name is recorded as who granted or revoked a reward.
   */
  SERVICE_TOKENS: z
    .string()
    .transform((value, context) =>
      value
        .split(',')
        .map((pair) => pair.trim())
        .filter(Boolean)
        .map((pair) => {
          const [name, token] = pair.split(':', 2);
          if (!name || !token || token.length < 24) {
            context.addIssue({
              code: 'custom',
              message: 'each entry must be name:token with a token of 24+ characters',
            });
          }
          return { name: name ?? '', token: token ?? '' };
        }),
    )
    .optional(),

  EMAIL_DRIVER: z.enum(['outbox', 'resend', 'smtp']).default('outbox'),
  /** Takes over when the primary keeps failing (5xx, timeouts); `none` turns failover off. */
  EMAIL_FALLBACK_DRIVER: z.enum(['none', 'smtp', 'outbox']).default('none'),
  /** Consecutive retryable failures of the primary before the fallback takes over. */
  EMAIL_FAILOVER_THRESHOLD: z.coerce.number().int().min(1).default(3),
  /** How long the fallback serves before the primary is tried again. */
  EMAIL_FAILOVER_COOLDOWN_SECONDS: z.coerce.number().min(1).default(300),
  RESEND_API_KEY: z.string().startsWith('re_', 'must be a Resend API key (re_…)').optional(),
  /** Resend's API base (a stand-in for tests); unset: https://api.resend.com. */
  RESEND_API_URL: z.url().optional(),
  /** Signing secret of the Resend webhook endpoint (Svix, whsec_…) for POST /webhooks/resend. */
  RESEND_WEBHOOK_SECRET: z
    .string()
    .startsWith('whsec_', 'must be a Svix signing secret (whsec_…)')
    .optional(),
  /** smtp://user:pass@host:port or smtps://…, for the smtp driver or fallback. */
  SMTP_URL: z.url().optional(),
  EMAIL_FROM: z.string().min(3).default('Fulfillment Orchestrator <orders@localhost>'),
});

export type Env = z.infer<typeof envSchema>;

/** Settings a chosen driver cannot work without. */
function requireDriverSettings(env: Env, context: z.RefinementCtx): void {
  const drivers = [env.EMAIL_DRIVER, env.EMAIL_FALLBACK_DRIVER];
  if (drivers.includes('resend') && !env.RESEND_API_KEY) {
    context.addIssue({
      code: 'custom',
      path: ['RESEND_API_KEY'],
      message: 'is required with EMAIL_DRIVER=resend',
    });
  }
  if (drivers.includes('smtp') && !env.SMTP_URL) {
    context.addIssue({
      code: 'custom',
      path: ['SMTP_URL'],
      message: 'is required when smtp is the email driver or fallback',
    });
  }
  if (env.STORAGE_DRIVER === 'supabase') {
    for (const key of ['SUPABASE_URL', 'SUPABASE_SERVICE_KEY'] as const) {
      if (!env[key])
        context.addIssue({
          code: 'custom',
          path: [key],
          message: 'is required with STORAGE_DRIVER=supabase',
        });
    }
  }
  if (env.EMAIL_FALLBACK_DRIVER === env.EMAIL_DRIVER) {
    context.addIssue({
      code: 'custom',
      path: ['EMAIL_FALLBACK_DRIVER'],
      message: 'must differ from EMAIL_DRIVER',
    });
  }
}

export interface Config extends Omit<Env, 'PUBLIC_BASE_URL'> {
  PUBLIC_BASE_URL: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Validates the environment and throws one ConfigError naming every missing or malformed
 * variable. Values are never echoed: some of them are secrets.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const relevant = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((key) => {
      const value = env[key];
      return value === undefined || value === '' ? [] : [[key, value]];
    }),
  );
  const parsed = envSchema.superRefine(requireDriverSettings).safeParse(relevant);
  if (!parsed.success) {
    const problems = parsed.error.issues.map(
      (issue) => `  - ${issue.path.join('.') || '(environment)'}: ${issue.message}`,
    );
    throw new ConfigError(`Invalid configuration:\n${problems.join('\n')}`);
  }
  return {
    ...parsed.data,
    PUBLIC_BASE_URL: parsed.data.PUBLIC_BASE_URL ?? `http://localhost:${parsed.data.PORT}`,
  };
}
