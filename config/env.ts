import { z } from 'zod';
import { parsePayloadKeys } from '../security/payload-codec.ts';
import {
  resolveTemporalConnection,
  type TemporalConnectionSettings,
} from './temporal-connection.ts';

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

  /**
   * The Temporal connection, read as Temporal's CLI and SDKs read it (`@temporalio/envconfig`,
   * config/temporal-connection.ts): these variables override the `temporal.toml` profile named by
   * TEMPORAL_PROFILE (default `default`) in TEMPORAL_CONFIG_FILE (default
   * `~/.config/temporalio/temporal.toml`; empty: no file). Unset everywhere: localhost:7233,
   * namespace `default`, no TLS. `Config.TEMPORAL_ADDRESS` and `TEMPORAL_NAMESPACE` hold the
   * resolved values; `Config.temporalConnection` the whole connection.
   */
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  /** An API key (Temporal Cloud, or a proxy that checks `Authorization: Bearer`); turns TLS on. */
  TEMPORAL_API_KEY: z.string().min(1).optional(),
  /** `true` turns TLS on with the system's roots; `false` turns it off even with an API key. */
  TEMPORAL_TLS: z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).optional(),
  /** The client certificate and key for mTLS (PEM), as files or inline. */
  TEMPORAL_TLS_CLIENT_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_CERT_DATA: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_CLIENT_KEY_DATA: z.string().min(1).optional(),
  /** The CA that signed the server's certificate (PEM), when it is not a public one. */
  TEMPORAL_TLS_SERVER_CA_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_SERVER_CA_CERT_DATA: z.string().min(1).optional(),
  /** The name to check the server's certificate against, when it differs from the address. */
  TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
  /** Not supported by the TypeScript SDK: start-up refuses `true` and says why. */
  TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: z
    .enum(['true', 'false', '1', '0'], { error: 'must be true or false' })
    .optional(),
  /** The `temporal.toml` profile to read (default `default`). */
  TEMPORAL_PROFILE: z.string().min(1).optional(),
  /** The `temporal.toml` to read instead of the user's config folder (empty: none). */
  TEMPORAL_CONFIG_FILE: z.string().min(1).optional(),
  TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  /**
   * The task queue the workers poll and every start names (default `fulfillment`). One per
   * deployment: api and worker of one store must agree; two stores on one namespace must not.
   */
  TEMPORAL_TASK_QUEUE: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, {
      error: 'must be letters, digits, dots, dashes or underscores (at most 200)',
    })
    .default('fulfillment'),
  /**
   * Keys that encrypt workflow payloads (AES-256-GCM), as comma-separated `keyId:base64key`
   * (32 bytes each: `openssl rand -base64 32`). The first encrypts; all decrypt, so rotate by
   * putting a new key first and keeping the old ones until their histories expire. Unset:
   * payloads are stored in clear (`npm start` generates a key; production requires one).
   */
  PAYLOAD_ENCRYPTION_KEYS: z
    .string()
    .transform((value, context) => {
      try {
        return parsePayloadKeys(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  /**
   * Key of the HMAC that turns a buyer's email into the `CustomerEmail` search attribute (so
   * history never holds the address). Changing it orphans the values already indexed.
   * Unset: a fixed development key (`npm start` generates one; production requires one).
   */
  SEARCH_ATTRIBUTE_HASH_KEY: z.string().min(32, 'needs 32+ characters').optional(),
  /** Browser origins (the Temporal Web UI) allowed to call /codec/decode and /codec/encode. */
  CODEC_CORS_ORIGINS: commaList
    .pipe(z.array(z.url('every origin must be a URL such as http://localhost:8233')))
    .default(['http://localhost:8233']),
  /**
   * Development only: let the Web UI call the codec endpoint without an operator token (the
   * dev server's UI cannot send one). `npm start` sets it; production refuses it.
   */
  CODEC_ALLOW_ANONYMOUS: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .default('false')
    .transform((value) => value === 'true'),
  /**
   * On SIGTERM/SIGINT: how long the api drains in-flight requests and the worker lets in-flight
   * activities finish before they are cut (then the process exits; Temporal retries the cut
   * activities on another worker). Keep it below the orchestrator's kill timeout (30 s in
   * Kubernetes by default).
   */
  SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(20),
  /**
   * Workflows a worker keeps in memory (its sticky cache). Fulfillments wait days on reminder
   * timers: an evicted one replays its short history when a timer fires, so a bounded cache
   * keeps a worker holding 10,000 open runs under 1 GiB at its peak (`npm run bench --
   * memory`). A cached fulfillment holds about 0.45 MiB (200 vs 600 open); 500 keeps the cache
   * near 225 MiB and leaves the activities' surge room, and a fulfillment spends well under a
   * second in its steps, so 500 still caches every run in flight at hundreds of starts a second.
   */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).default(500),

  STRIPE_SECRET_KEY: z
    .string({ error: 'is required (a Stripe secret key, sk_…)' })
    .regex(/^(sk|rk)_/, 'must be a Stripe secret or restricted key (sk_… or rk_…)'),
  STRIPE_API_URL: z.url().optional(),
  /** The currency the store sells in: `ops preflight` checks every product's price is in it. */
  STORE_CURRENCY: z
    .string()
    .regex(/^[A-Za-z]{3}$/, 'must be a three-letter ISO 4217 code such as usd')
    .transform((code) => code.toLowerCase())
    .default('usd'),
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
  /** How often each api's relay claims recorded events nobody dispatched (crash, outage). */
  WEBHOOK_RELAY_INTERVAL_SECONDS: z.coerce.number().min(0.1).default(2),
  /** Workflow starts in flight per api process, right after the ack and in the relay (each). */
  WEBHOOK_DISPATCH_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(16),
  /**
   * How long the api that recorded an event holds it for its own dispatch before any relay may
   * claim it (and how long a relay's claim lasts): above Temporal's 5 s call deadline.
   */
  WEBHOOK_DISPATCH_LEASE_SECONDS: z.coerce.number().min(6).max(3600).default(30),
  /** How long the inbox keeps processed events (Stripe itself keeps them 30 days). */
  WEBHOOK_RETENTION_MONTHS: z.coerce.number().int().min(1).default(13),
  /** How often the fleet prunes the inbox past its retention (once per interval, any worker). */
  WEBHOOK_RETENTION_PRUNE_INTERVAL_HOURS: z.coerce.number().min(0).default(24),
  /** How often to compare the inbox with Stripe's Events API; 0 turns the gap check off. */
  STRIPE_GAP_CHECK_INTERVAL_MINUTES: z.coerce.number().min(0).default(10),
  /** How far back the gap check looks (Stripe retries deliveries for up to 3 days). */
  STRIPE_GAP_CHECK_WINDOW_HOURS: z.coerce.number().min(1).max(720).default(72),
  /**
   * How long a fulfillment keeps retrying a Stripe lookup that fails (5xx, timeouts) before the
   * job needs attention with the reason; refused lookups (404, invalid) need attention at once.
   */
  STRIPE_LOOKUP_WINDOW_SECONDS: z.coerce.number().int().min(1).max(86_400).default(900),

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
  /**
   * Browser origins allowed to call the storefront API under /v1/ (CORS), comma-separated;
   * unset: the origin of STOREFRONT_URL. Every other origin gets no CORS headers.
   */
  STOREFRONT_ORIGINS: commaList
    .pipe(z.array(z.url('every origin must be a URL such as https://shop.example.com')))
    .optional(),
  /** Requests per minute per caller (user, service or operator) on /v1/* and /admin/* before 429. */
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(120),
  /**
   * Behind a load balancer: which proxies' X-Forwarded-For to believe for the client address
   * (rate limits, download logs). `true` (every hop), a hop count, or comma-separated
   * addresses/CIDRs of the proxies. Unset: the socket's address.
   */
  TRUST_PROXY: z
    .string()
    .transform((value): boolean | number | string[] =>
      value === 'true'
        ? true
        : value === 'false'
          ? false
          : /^\d+$/.test(value)
            ? Number(value)
            : value
                .split(',')
                .map((entry) => entry.trim())
                .filter(Boolean),
    )
    .optional(),
  /** A prebuilt workflow bundle (`npm run build:workflows`) the worker loads instead of bundling. */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),

  /** Alert sinks: a Slack incoming webhook and a generic JSON webhook (both optional). */
  ALERT_SLACK_WEBHOOK_URL: z.url().optional(),
  ALERT_WEBHOOK_URL: z.url().optional(),
  /** PagerDuty Events API v2: the integration's routing key (32 characters); unset: no paging. */
  ALERT_PAGERDUTY_ROUTING_KEY: z
    .string()
    .regex(/^[A-Za-z0-9]{32}$/, 'a PagerDuty Events API v2 integration key (32 characters)')
    .optional(),
  /** The Events API v2 enqueue endpoint (EU accounts: https://events.eu.pagerduty.com/v2/enqueue). */
  ALERT_PAGERDUTY_URL: z.url().default('https://events.pagerduty.com/v2/enqueue'),
  /** The issue tracker for reconciliation discrepancies: a GitHub repository, `owner/name`. */
  ALERT_GITHUB_REPOSITORY: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/, 'owner/name, e.g. acme/fulfillment-ops')
    .optional(),
  /** A token allowed to open issues there (fine-grained: Issues read and write). A secret. */
  ALERT_GITHUB_TOKEN: z.string().min(1).optional(),
  /** GitHub's REST API base URL (GitHub Enterprise Server: https://<host>/api/v3). */
  ALERT_GITHUB_API_URL: z.url().default('https://api.github.com'),
  /** The every-minute scan alerts on a run pending_* (not reminding) for longer than this. */
  STUCK_THRESHOLD_MINUTES: z.coerce.number().min(1).max(1440).default(5),
  /** A failure-rate alert when more than this many jobs need attention within an hour. */
  FAILURE_RATE_THRESHOLD: z.coerce.number().int().min(0).default(3),
  /** The daily reconciliation re-drives the safe classes (paid-not-entitled, entitled-without-email). */
  RECONCILE_AUTO_HEAL: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((value) => value === 'true' || value === '1'),
  /** When the daily reconciliation runs (cron, UTC); it covers the UTC day before. */
  RECONCILE_CRON: z
    .string()
    .regex(/^\S+( \S+){4}$/, 'a five-field cron expression, e.g. 0 2 * * *')
    .default('0 2 * * *'),
  /** The worker's /metrics port (0 turns the endpoint off). */
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  /** Where the worker's /metrics listens (0.0.0.0 in a container, so Prometheus can scrape it). */
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Where the Temporal SDK's own Prometheus exporter binds; the worker's /metrics includes it. Empty: off. */
  TEMPORAL_METRICS_ADDRESS: z
    .string()
    .regex(/^$|^[^:\s]+:\d+$/, 'host:port, e.g. 127.0.0.1:9465')
    .default('127.0.0.1:9465'),

  /**
   * Tracing (OpenTelemetry): `otlp` exports spans over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT
   * (default http://localhost:4318), `console` prints them, `none` (the default) turns tracing
   * off. The SDK itself reads the other standard OTEL_* variables; these are the ones checked.
   */
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console']).default('none'),
  /** `service.name` of the spans; unset: fulfillment-api / fulfillment-worker / fulfillment-local. */
  OTEL_SERVICE_NAME: z.string().min(1).optional(),
  /** The collector's OTLP/HTTP base URL (`/v1/traces` is appended), e.g. http://jaeger:4318. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  /** The full traces URL, when it is not `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  /** Headers for the collector, `key=value` comma-separated (an API key: never logged). */
  OTEL_EXPORTER_OTLP_HEADERS: z
    .string()
    .regex(/^[^=,\s]+=[^,]*(,[^=,\s]+=[^,]*)*$/, 'key=value pairs, comma-separated')
    .optional(),
  /** Which traces are kept; unset: parentbased_always_on (every trace). */
  OTEL_TRACES_SAMPLER: z
    .enum([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ])
    .optional(),
  /** The ratio for the *traceidratio samplers, 0 to 1. */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
  /** Extra resource attributes, `key=value` comma-separated (e.g. deployment.environment=prod). */
  OTEL_RESOURCE_ATTRIBUTES: z.string().min(1).optional(),

  /**
   * Where analytics events go: `table` (analytics_events only) or `segment` (also exported to
   * Segment's batch API through the outbox, with retries; needs SEGMENT_WRITE_KEY).
   */
  ANALYTICS_SINK: z.enum(['table', 'segment']).default('table'),
  /** The Segment source's write key (Basic auth user name). */
  SEGMENT_WRITE_KEY: z.string().min(8).optional(),
  /** Segment's HTTP Tracking API (EU workspaces: https://events.eu1.segmentapis.com). */
  SEGMENT_API_URL: z.url().default('https://api.segment.io'),

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

  /**
   * Operator tokens for the admin API (/admin/…), as comma-separated `name:role:token`
   * entries; role is `support` (read and resend) or `admin` (everything). The name is
   * recorded in audit_log as who acted. List two for one name to rotate.
   */
  OPERATOR_TOKENS: z
    .string()
    .transform((value, context) =>
      value
        .split(',')
        .map((entry) => entry.trim())
        .filter(Boolean)
        .map((entry) => {
          const [name = '', role = '', ...rest] = entry.split(':');
          const token = rest.join(':');
          if (!name || (role !== 'support' && role !== 'admin') || token.length < 24) {
            context.addIssue({
              code: 'custom',
              message:
                'each entry must be name:role:token with role support or admin and a token of 24+ characters',
            });
          }
          return {
            name,
            role: role === 'admin' ? ('admin' as const) : ('support' as const),
            token,
          };
        }),
    )
    .optional(),

  /**
   * The support console (/console): the OpenID Connect issuer agents sign in with
   * (authorization code + PKCE). Unset: no console.
   */
  CONSOLE_OIDC_ISSUER: z.url().optional(),
  /** The console's client at that issuer; its redirect URI is `<PUBLIC_BASE_URL>/console/auth/callback`. */
  CONSOLE_OIDC_CLIENT_ID: z.string().min(1).optional(),
  /** The client's secret (client_secret_basic); unset for a public client (PKCE only). */
  CONSOLE_OIDC_CLIENT_SECRET: z.string().min(1).optional(),
  /** The ID-token or userinfo claim that carries the agent's roles (a list or a space-separated string). */
  CONSOLE_ROLES_CLAIM: z.string().min(1).default('roles'),
  /**
   * Which claim values grant which operator role, as comma-separated `value:role` pairs
   * (role `support` or `admin`); unset: the values `support` and `admin` themselves.
   */
  CONSOLE_ROLE_MAPPING: z
    .string()
    .transform((value, context) =>
      value
        .split(',')
        .map((pair) => pair.trim())
        .filter(Boolean)
        .map((pair) => {
          const at = pair.lastIndexOf(':');
          const claimValue = pair.slice(0, at);
          const role = pair.slice(at + 1);
          if (at < 1 || (role !== 'support' && role !== 'admin'))
            context.addIssue({
              code: 'custom',
              message: 'each entry must be value:role with role support or admin',
            });
          return {
            value: claimValue,
            role: role === 'admin' ? ('admin' as const) : ('support' as const),
          };
        }),
    )
    .optional(),
  /**
   * Keys of the console's encrypted session cookie, comma-separated, 32+ characters each: the
   * first seals new sessions, every one opens them (list two to rotate).
   */
  CONSOLE_SESSION_SECRETS: commaList
    .pipe(z.array(z.string().min(32, 'each secret needs 32+ characters')))
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
  if (env.ANALYTICS_SINK === 'segment' && !env.SEGMENT_WRITE_KEY) {
    context.addIssue({
      code: 'custom',
      path: ['SEGMENT_WRITE_KEY'],
      message: 'is required with ANALYTICS_SINK=segment',
    });
  }
  if (env.ALERT_GITHUB_REPOSITORY && !env.ALERT_GITHUB_TOKEN) {
    context.addIssue({
      code: 'custom',
      path: ['ALERT_GITHUB_TOKEN'],
      message: 'is required with ALERT_GITHUB_REPOSITORY',
    });
  }
  if (env.CONSOLE_OIDC_ISSUER) {
    for (const key of ['CONSOLE_OIDC_CLIENT_ID', 'CONSOLE_SESSION_SECRETS'] as const) {
      if (!env[key] || env[key].length === 0)
        context.addIssue({
          code: 'custom',
          path: [key],
          message: 'is required with CONSOLE_OIDC_ISSUER (the support console)',
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

/** Placeholders `.env.example` ships (`sk_test_replace_me`, `replace-with-…`): never real secrets. */
const EXAMPLE_VALUE = /replace[-_](me|with)|your-(project|tenant)\./i;

/**
 * Production refuses what only suits a laptop, naming each: the outbox and local-disk drivers,
 * the generated local JWKS, PGlite, unencrypted payloads, the example secrets, and defaults
 * that point at localhost. Read from the raw values, so these are named together with every
 * malformed variable in one message.
 */
function developmentDefaultsInProduction(given: Record<string, string>): string[] {
  const problems: string[] = [];
  const problem = (key: string, message: string) =>
    problems.push(`  - ${key}: ${message} (NODE_ENV=production)`);
  const unset = (key: keyof Env) => !(key in given);
  if ((given['EMAIL_DRIVER'] ?? 'outbox') === 'outbox')
    problem('EMAIL_DRIVER', 'is outbox, which only records mail; use resend or smtp');
  if (given['EMAIL_FALLBACK_DRIVER'] === 'outbox')
    problem('EMAIL_FALLBACK_DRIVER', 'is outbox, which only records mail; use smtp or none');
  if ((given['STORAGE_DRIVER'] ?? 'local') === 'local')
    problem('STORAGE_DRIVER', 'is local (files on this machine); use supabase');
  if (!unset('AUTH_JWKS_FILE'))
    problem('AUTH_JWKS_FILE', 'is a local key file (npm start generates one); use AUTH_JWKS_URL');
  if (unset('AUTH_JWKS_URL'))
    problem('AUTH_JWKS_URL', "is required: the storefront users' JWT key set");
  if (unset('DATABASE_URL'))
    problem('DATABASE_URL', 'is required: embedded PGlite is for local use only');
  if (unset('DOWNLOAD_TOKEN_SECRETS'))
    problem('DOWNLOAD_TOKEN_SECRETS', 'is required: without it receipts carry no download links');
  if (unset('PAYLOAD_ENCRYPTION_KEYS'))
    problem(
      'PAYLOAD_ENCRYPTION_KEYS',
      'is required: without it buyer data sits in clear in workflow history',
    );
  if (unset('SEARCH_ATTRIBUTE_HASH_KEY'))
    problem(
      'SEARCH_ATTRIBUTE_HASH_KEY',
      'is required: the development key makes email hashes guessable',
    );
  if (given['CODEC_ALLOW_ANONYMOUS'] === 'true')
    problem(
      'CODEC_ALLOW_ANONYMOUS',
      'lets anyone decode workflow payloads; production needs operator tokens',
    );
  for (const key of ['PUBLIC_BASE_URL', 'STOREFRONT_URL', 'AUTH_ISSUER', 'EMAIL_FROM'] as const) {
    if (unset(key)) problem(key, 'is required: its default points at localhost');
  }
  for (const [key, value] of Object.entries(given)) {
    if (EXAMPLE_VALUE.test(value)) problem(key, 'is the example value from .env.example');
  }
  return problems;
}

export interface Config extends Omit<
  Env,
  'PUBLIC_BASE_URL' | 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'
> {
  PUBLIC_BASE_URL: string;
  /** Where Temporal is, resolved from the variables and the profile (default localhost:7233). */
  TEMPORAL_ADDRESS: string;
  /** The namespace, resolved from the variables and the profile (default `default`). */
  TEMPORAL_NAMESPACE: string;
  /** The whole Temporal connection: address, namespace, API key, TLS, and where each came from. */
  temporalConnection: TemporalConnectionSettings;
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
  const production =
    relevant['NODE_ENV'] === 'production' ? developmentDefaultsInProduction(relevant) : [];
  // The TEMPORAL_* values pass through untouched (the schema above only checks their shape),
  // plus the empty TEMPORAL_CONFIG_FILE that means "no file" and HOME/XDG_CONFIG_HOME, which
  // locate the default temporal.toml.
  const temporal = resolveTemporalConnection({
    ...Object.fromEntries(Object.entries(env).filter(([key]) => key.startsWith('TEMPORAL_'))),
    HOME: env['HOME'],
    XDG_CONFIG_HOME: env['XDG_CONFIG_HOME'],
    APPDATA: env['APPDATA'],
  });
  if (!parsed.success || production.length > 0 || temporal.problems.length > 0) {
    const problems = (parsed.success ? [] : parsed.error.issues).map((issue) => {
      const key = issue.path.join('.');
      // zod's own "expected string, received undefined": the variable is not set at all.
      const missing =
        issue.code === 'invalid_type' &&
        issue.message.startsWith('Invalid input') &&
        key !== '' &&
        !(key in relevant);
      return `  - ${key || '(environment)'}: ${missing ? 'is required' : issue.message}`;
    });
    throw new ConfigError(
      `Invalid configuration:\n${[...problems, ...production, ...temporal.problems].join('\n')}`,
    );
  }
  const temporalConnection = temporal.settings!;
  return {
    ...parsed.data,
    PUBLIC_BASE_URL: parsed.data.PUBLIC_BASE_URL ?? `http://localhost:${parsed.data.PORT}`,
    TEMPORAL_ADDRESS: temporalConnection.address,
    TEMPORAL_NAMESPACE: temporalConnection.namespace,
    temporalConnection,
  };
}
