// `npm start`: the whole local stack in one process — Temporal dev server (Web UI on 8233),
// localstripe, database (PGlite unless DATABASE_URL), migrations, demo catalog, worker and api.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildApp } from '../api/app.ts';
import { connectDatabase } from '../db/connect.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { installTemporalRuntime } from '../temporal/runtime.ts';
import { createFulfillmentWorker } from '../temporal/worker.ts';
import { resolveBinary } from './lib/binaries.ts';
import { ensureDevJwks } from './lib/dev-auth.ts';
import { spawnManaged, waitFor, type ManagedProcess } from './lib/processes.ts';
import { appDepsFromConfig } from './lib/app-options.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';
import { createActivityDeps, prepareLocalDatabase, seedDemoAssets } from './lib/services.ts';
import { startTemporalDevServer, type DevServer } from './lib/temporal-dev-server.ts';

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

const children: { name: string; stop: () => Promise<void> }[] = [];
let devServer: DevServer | null = null;
let localstripe: ManagedProcess | null = null;

process.env['STRIPE_WEBHOOK_SECRETS'] ??= localSecret('dev-webhook-secret', 'whsec_');
process.env['DOWNLOAD_TOKEN_SECRETS'] ??= localSecret('dev-download-token-secret', '');
if (!process.env['AUTH_JWKS_URL']) process.env['AUTH_JWKS_FILE'] ??= await ensureDevJwks();
const localServiceToken = process.env['SERVICE_TOKENS']
  ? null
  : localSecret('dev-service-token', '');
if (localServiceToken) process.env['SERVICE_TOKENS'] = `local:${localServiceToken}`;
if (!process.env['STRIPE_API_URL'] && !process.env['STRIPE_SECRET_KEY']) {
  const bin = await resolveBinary('localstripe');
  localstripe = spawnManaged(bin, ['--port', String(LOCALSTRIPE_PORT)]);
  children.push({ name: 'localstripe', stop: () => localstripe!.stop() });
  process.env['STRIPE_API_URL'] = `http://localhost:${LOCALSTRIPE_PORT}`;
  process.env['STRIPE_SECRET_KEY'] = 'sk_test_localstripe';
  await waitFor(
    'localstripe',
    async () =>
      (
        await fetch(`${process.env['STRIPE_API_URL']}/v1/customers`, {
          headers: { authorization: 'Bearer sk_test_localstripe' },
        })
      ).ok,
    {
      abort: () =>
        localstripe!.child.exitCode !== null ? `exited:\n${localstripe!.recentOutput()}` : null,
    },
  );
}
if (!process.env['TEMPORAL_ADDRESS']) {
  devServer = await startTemporalDevServer({
    port: TEMPORAL_PORT,
    uiPort: TEMPORAL_UI_PORT,
    dbFile: path.join(DATA_DIR, 'temporal.db'),
  });
  children.push({ name: 'temporal', stop: () => devServer!.stop() });
  process.env['TEMPORAL_ADDRESS'] = devServer.address;
}

const config = loadConfigOrExit();
installTemporalRuntime();
const db = await connectDatabase(databaseTarget(config, true));
const { seeded } = await prepareLocalDatabase(db);
const activityDeps = createActivityDeps(config, db);
await seedDemoAssets(activityDeps.storage);
const temporalTarget = { address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE };
const temporal = await connectTemporalClient(temporalTarget);
const { worker, connection } = await createFulfillmentWorker({
  ...temporalTarget,
  deps: activityDeps,
});
const workerRun = worker.run();
const app = await buildApp(appDepsFromConfig(config, db, temporal));
await app.listen({ host: config.HOST, port: config.PORT });

const api = `http://localhost:${config.PORT}`;
console.log(`
Fulfillment Orchestrator is running${seeded ? ' (demo catalog seeded)' : ''}
  api            ${api}   (health: ${api}/healthz)
  Temporal UI    ${devServer?.uiUrl ?? config.TEMPORAL_UI_URL}/namespaces/${config.TEMPORAL_NAMESPACE}/workflows
  outbox         ${api}/dev/outbox
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
}
Ctrl-C stops everything; the next npm start resumes with the same data.
`);

onShutdownSignal(async () => {
  await app.close();
  worker.shutdown();
  await workerRun.catch(() => undefined);
  await connection.close();
  await temporal.connection.close();
  await db.destroy();
  for (const child of children.reverse()) await child.stop();
});
