// `npm start`: the whole local stack in one process — Temporal dev server (Web UI on 8233),
// localstripe, database (PGlite unless DATABASE_URL), migrations, demo catalog, worker and api.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildApp } from '../api/app.ts';
import { closeGracefully } from '../api/drain.ts';
import { connectDatabase } from '../db/connect.ts';
import { closeTemporalClient, lazyTemporalClient } from '../temporal/client.ts';
import { monitorTemporal, TemporalConnectionRefused } from '../temporal/connection-check.ts';
import { ensureOperationsSchedules } from '../temporal/schedules.ts';
import { generatePayloadKeyEntry } from '../security/payload-codec.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { installTemporalRuntime } from '../worker/runtime.ts';
import { startTracing } from '../observability/tracing.ts';
import { connectWorkerToTemporal, createFulfillmentWorker } from '../worker/worker.ts';
import { startWorkerOperations } from '../worker/operations.ts';
import { temporalMetricsBindAddress, WorkerHealth } from '../worker/metrics-server.ts';
import { ensureDevJwks } from './lib/dev-auth.ts';
import { startLocalstripe } from '../stack/localstripe.ts';
import { startLocalOidcProvider, type LocalOidcProvider } from '../stack/oidc-provider.ts';
import { appDepsFromConfig } from './lib/app-options.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';
import { createActivityDeps } from './lib/worker-deps.ts';
import { prepareLocalDatabase, seedDemoAssets } from '../stack/demo-data.ts';
import { startTemporalDevServer, type DevServer } from '../stack/temporal-dev-server.ts';

const DATA_DIR = path.resolve('.data');
const TEMPORAL_PORT = 7233;
const TEMPORAL_UI_PORT = 8233;
const LOCALSTRIPE_PORT = 8420;

loadDotEnv();
mkdirSync(DATA_DIR, { recursive: true });

/** A secret generated once per checkout into .data/, so local use never shares one. */
function localSecret(name: string, prefix: string): string {
  const file = path.join(DATA_DIR, name);
  if (!existsSync(file))
    writeFileSync(file, `${prefix}${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

/** A payload key (`keyId:base64key`) generated once per checkout into .data/. */
function localPayloadKeys(): string {
  const file = path.join(DATA_DIR, 'dev-payload-encryption-keys');
  if (!existsSync(file))
    writeFileSync(file, `${generatePayloadKeyEntry(`local-${Date.now()}`)}\n`, { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}

const children: { name: string; stop: () => Promise<void> }[] = [];
let devServer: DevServer | null = null;

process.env['STRIPE_WEBHOOK_SECRETS'] ??= localSecret('dev-webhook-secret', 'whsec_');
process.env['DOWNLOAD_TOKEN_SECRETS'] ??= localSecret('dev-download-token-secret', '');
// Workflow payloads are encrypted locally too, with a key kept in .data/ so a restart still
// reads the history it wrote; the local Web UI decodes through the api's /codec endpoint.
process.env['PAYLOAD_ENCRYPTION_KEYS'] ??= localPayloadKeys();
process.env['SEARCH_ATTRIBUTE_HASH_KEY'] ??= localSecret('dev-search-attribute-hash-key', '');
if (!process.env['AUTH_JWKS_URL']) process.env['AUTH_JWKS_FILE'] ??= await ensureDevJwks();
const localServiceToken = process.env['SERVICE_TOKENS']
  ? null
  : localSecret('dev-service-token', '');
if (localServiceToken) process.env['SERVICE_TOKENS'] = `local:${localServiceToken}`;
const localOperatorToken = process.env['OPERATOR_TOKENS']
  ? null
  : localSecret('dev-operator-token', '');
if (localOperatorToken) process.env['OPERATOR_TOKENS'] = `local:admin:${localOperatorToken}`;
if (!process.env['STRIPE_API_URL'] && !process.env['STRIPE_SECRET_KEY']) {
  const emulator = await startLocalstripe({ port: LOCALSTRIPE_PORT });
  children.push({ name: 'localstripe', stop: () => emulator.stop() });
  process.env['STRIPE_API_URL'] = emulator.url;
  process.env['STRIPE_SECRET_KEY'] = 'sk_test_localstripe';
}
// The support console signs agents in at a local OpenID Connect provider unless an issuer is
// configured: two demo agents, their passwords generated once into .data/.
let localIdentity: LocalOidcProvider | null = null;
if (!process.env['CONSOLE_OIDC_ISSUER']) {
  const publicBase =
    process.env['PUBLIC_BASE_URL'] ?? `http://localhost:${process.env['PORT'] ?? 3000}`;
  localIdentity = await startLocalOidcProvider({
    redirectUris: [`${publicBase.replace(/\/$/, '')}/console/auth/callback`],
    users: [
      {
        email: 'support@example.com',
        password: localSecret('dev-console-password-support', ''),
        roles: ['support'],
      },
      {
        email: 'admin@example.com',
        password: localSecret('dev-console-password-admin', ''),
        roles: ['admin'],
      },
    ],
  });
  children.push({ name: 'identity provider', stop: () => localIdentity!.stop() });
  process.env['CONSOLE_OIDC_ISSUER'] = localIdentity.issuer;
  process.env['CONSOLE_OIDC_CLIENT_ID'] = localIdentity.clientId;
  process.env['CONSOLE_OIDC_CLIENT_SECRET'] = localIdentity.clientSecret;
}
process.env['CONSOLE_SESSION_SECRETS'] ??= localSecret('dev-console-session-secret', '');
// No Temporal configured (no address, no profile): a dev server of its own, and no
// temporal.toml (a profile for some other cluster must not apply to it).
if (!process.env['TEMPORAL_ADDRESS'] && !process.env['TEMPORAL_PROFILE']) {
  const uiOrigins = [
    `http://localhost:${TEMPORAL_UI_PORT}`,
    `http://127.0.0.1:${TEMPORAL_UI_PORT}`,
  ];
  // The dev server's UI cannot send an operator token: let it (and only its origins) decode.
  process.env['CODEC_CORS_ORIGINS'] ??= uiOrigins.join(',');
  process.env['CODEC_ALLOW_ANONYMOUS'] ??= 'true';
  devServer = await startTemporalDevServer({
    port: TEMPORAL_PORT,
    uiPort: TEMPORAL_UI_PORT,
    dbFile: path.join(DATA_DIR, 'temporal.db'),
    uiCodecEndpoint: `http://localhost:${process.env['PORT'] ?? 3000}/codec`,
  });
  children.push({ name: 'temporal', stop: () => devServer!.stop() });
  process.env['TEMPORAL_ADDRESS'] = devServer.address;
  process.env['TEMPORAL_CONFIG_FILE'] = '';
}

const config = loadConfigOrExit();
// One switch: OTEL_TRACES_EXPORTER=otlp sends every purchase's trace to a collector on
// localhost:4318 (README "Tracing"); off by default.
const tracing = startTracing({
  exporter: config.OTEL_TRACES_EXPORTER,
  serviceName: 'fulfillment-local',
});
installTemporalRuntime('WARN', temporalMetricsBindAddress(config));
const db = await connectDatabase(databaseTarget(config, true));
const { seeded } = await prepareLocalDatabase(db);
const activityDeps = createActivityDeps(config, db);
await seedDemoAssets(activityDeps.storage);
const temporalTarget = temporalTargetFromConfig(config);
const temporal = lazyTemporalClient(temporalTarget);
const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
// The worker's /metrics, /healthz, /readyz and its periodic jobs; then Temporal, waited for.
const health = new WorkerHealth(temporalTarget);
const operations = await startWorkerOperations(config, db, temporalTarget, health);
let connection: Awaited<ReturnType<typeof connectWorkerToTemporal>>;
try {
  connection = await connectWorkerToTemporal(temporalTarget, {
    onWait: (problem) => health.waiting(problem),
  });
} catch (error) {
  if (!(error instanceof TemporalConnectionRefused)) throw error;
  console.error(`Cannot connect to Temporal: ${error.message}`);
  process.exit(1);
}
const { worker } = await createFulfillmentWorker({
  ...temporalTarget,
  connection,
  shutdownGraceTimeMs: graceMs,
  maxCachedWorkflows: config.WORKER_MAX_CACHED_WORKFLOWS,
  deps: activityDeps,
});
const workerRun = worker.run();
const monitor = monitorTemporal(
  () => connection.workflowService.describeNamespace({ namespace: temporalTarget.namespace }),
  temporalTarget,
);
health.polling(monitor);
// One process owns this configuration: apply the schedules' definitions (the deploy step of a
// fleet, `npm run ops -- schedules sync`), off the start path.
ensureOperationsSchedules(temporal, {
  reconcileAutoHeal: config.RECONCILE_AUTO_HEAL,
  reconcileCron: config.RECONCILE_CRON,
  taskQueue: config.TEMPORAL_TASK_QUEUE,
}).catch((error: unknown) => console.warn('schedules not reconciled:', error));
const app = await buildApp({
  ...appDepsFromConfig(config, db, temporal),
  temporalHealth: () => monitor.health(),
});
await app.listen({ host: config.HOST, port: config.PORT });

const api = `http://localhost:${config.PORT}`;
console.log(`
Fulfillment Orchestrator is running${seeded ? ' (demo catalog seeded)' : ''}
  api            ${api}   (health: ${api}/healthz)
  Temporal UI    ${devServer?.uiUrl ?? config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows
                 (payloads are encrypted; the UI decodes through ${api}/codec)
  outbox         ${api}/dev/outbox
  metrics        ${api}/metrics · worker ${operations.metricsUrl ?? 'off (WORKER_METRICS_PORT=0)'}
  traces         ${
    config.OTEL_TRACES_EXPORTER === 'otlp'
      ? `OTLP → ${config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? config.OTEL_EXPORTER_OTLP_ENDPOINT ?? 'http://localhost:4318'} (Jaeger UI: http://localhost:16686)`
      : tracing.enabled
        ? 'printed to this console'
        : 'off (OTEL_TRACES_EXPORTER=otlp sends them to a collector on localhost:4318)'
  }
  database       ${config.DATABASE_URL ? 'DATABASE_URL' : `PGlite at ${config.PGLITE_DATA_DIR}`}
  stripe api     ${config.STRIPE_API_URL ?? 'api.stripe.com'}

Send a signed test webhook (in another terminal):
  npm run send-test-webhook -- --email buyer@example.com --sku ebook-durable-execution

Then claim it and read the shelf as that buyer (a local JWT; Auth0 in production):
  TOKEN=$(npm run -s dev-token -- --email buyer@example.com)
  curl -X POST ${api}/v1/claims -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{}'
  curl ${api}/v1/entitlements -H "authorization: Bearer $TOKEN"
${
  localServiceToken
    ? `
Grant a reward (service token in .data/dev-service-token):
  curl -X POST ${api}/v1/rewards -H "authorization: Bearer $(cat .data/dev-service-token)" \\
    -H 'content-type: application/json' \\
    -d '{"reward_id":"mission-42-buyer","kind":"mission","mission_id":"mission-42","email":"buyer@example.com","skus":["ebook-idempotency-field-guide"]}'
`
    : ''
}${
  localOperatorToken
    ? `
Operator (admin API, token in .data/dev-operator-token; CLI: npm run ops -- help):
  curl '${api}/admin/jobs?email=buyer@example.com' -H "authorization: Bearer $(cat .data/dev-operator-token)"
`
    : ''
}
Support console: ${config.PUBLIC_BASE_URL}/console${
  localIdentity
    ? `
  sign in at the local identity provider (${localIdentity.issuer}) as
${localIdentity.users.map((u) => `    ${u.email.padEnd(22)} password ${u.password}   (${u.roles.join(', ')})`).join('\n')}`
    : ` (signs in at ${config.CONSOLE_OIDC_ISSUER})`
}

Ctrl-C stops everything; the next npm start resumes with the same data.
`);

onShutdownSignal(async () => {
  await closeGracefully(app, { graceMs });
  worker.shutdown();
  await workerRun.catch(() => undefined);
  monitor.stop();
  await operations.close();
  await connection.close();
  await closeTemporalClient(temporal);
  await db.destroy();
  await tracing.shutdown();
  for (const child of children.reverse()) await child.stop();
});
