// `npm run api`: the HTTP api alone (scale it out; it keeps no state of its own).
// Start-up never waits for Temporal: the client connects on first use, so a replica starts and
// acknowledges webhooks (recorded for the relay) while Temporal is down, and /readyz says so.
// A Temporal that answers and refuses this replica's settings stops it, naming the setting.
import { buildApp } from '../api/app.ts';
import { closeGracefully } from '../api/drain.ts';
import { connectDatabase } from '../db/connect.ts';
import { startTracing } from '../observability/tracing.ts';
import { closeTemporalClient, lazyTemporalClient } from '../temporal/client.ts';
import { monitorTemporal, type TemporalMonitor } from '../temporal/connection-check.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { appDepsFromConfig } from './lib/app-options.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';

loadDotEnv();
const config = loadConfigOrExit();
// Spans (OTEL_TRACES_EXPORTER=otlp) from the first request on; off by default.
const tracing = startTracing({
  exporter: config.OTEL_TRACES_EXPORTER,
  serviceName: 'fulfillment-api',
});
const db = await connectDatabase(databaseTarget(config, false));
const target = temporalTargetFromConfig(config);
const temporal = lazyTemporalClient(target);
let monitor: TemporalMonitor | null = null;
const app = await buildApp({
  ...appDepsFromConfig(config, db, temporal),
  temporalHealth: () => monitor!.health(),
});
await app.listen({ host: config.HOST, port: config.PORT });
const graceMs = config.SHUTDOWN_GRACE_SECONDS * 1000;
const close = async (): Promise<void> => {
  await closeGracefully(app, { graceMs });
  // After the app: its onClose hooks stop the relay and the dispatcher, which use both.
  monitor?.stop();
  await closeTemporalClient(temporal);
  await db.destroy();
  await tracing.shutdown();
};
monitor = monitorTemporal(
  () => temporal.workflowService.describeNamespace({ namespace: target.namespace }),
  target,
  {
    log: (level, msg, fields) => app.log[level](fields, msg),
    onRefused(problem, everConnected) {
      // Refused before this replica ever worked: a misconfigured deploy. Exiting keeps it from
      // becoming ready, so a rolling update stops with the older replicas serving. Refused
      // later (a key revoked while running): stay up — webhooks are still recorded — and say
      // so in /readyz and the log.
      if (everConnected) return;
      console.error(`Cannot connect to Temporal: ${problem.message}`);
      close().then(
        () => process.exit(1),
        () => process.exit(1),
      );
    },
  },
);
// SIGTERM: /readyz turns 503 at once, in-flight requests finish (up to the grace), then the
// server, the relay, the Temporal client and the pool close.
onShutdownSignal(
  async (signal) => {
    app.log.info({ signal, graceMs }, 'shutting down: draining in-flight requests');
    await close();
    app.log.info('shut down');
  },
  // The grace, then a few seconds for the pools to close.
  { forceExitAfterMs: graceMs + 10_000 },
);
