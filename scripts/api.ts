// `npm run api`: the HTTP api alone (scale it out; it keeps no state of its own).
import { buildApp } from '../api/app.ts';
import { closeGracefully } from '../api/drain.ts';
import { connectDatabase } from '../db/connect.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { appDepsFromConfig } from './lib/app-options.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';

loadDotEnv();
const config = loadConfigOrExit();
const db = await connectDatabase(databaseTarget(config, false));
const temporal = await connectTemporalClient(temporalTargetFromConfig(config));
const app = await buildApp(appDepsFromConfig(config, db, temporal));
await app.listen({ host: config.HOST, port: config.PORT });
// SIGTERM: /readyz turns 503 at once, in-flight requests finish (up to the grace), then the
// server, the relay, the Temporal client and the pool close.
const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
onShutdownSignal(
  async (signal) => {
    app.log.info({ signal, graceMs }, 'shutting down: draining in-flight requests');
    await closeGracefully(app, { graceMs });
    // After the app: its onClose hooks stop the relay and the dispatcher, which use both.
    await temporal.connection.close();
    await db.destroy();
    app.log.info('shut down');
  },
  // The grace, then a few seconds for the pools to close.
  { forceExitAfterMs: graceMs + 10_000 },
);
