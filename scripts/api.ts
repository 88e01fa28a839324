// `npm run api`: the HTTP api alone (scale it out; it keeps no state of its own).
import { buildApp } from '../api/app.ts';
import { connectDatabase } from '../db/connect.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { appDepsFromConfig } from './lib/app-options.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';

loadDotEnv();
const config = loadConfigOrExit();
const db = await connectDatabase(databaseTarget(config, false));
const temporal = await connectTemporalClient({
  address: config.TEMPORAL_ADDRESS,
  namespace: config.TEMPORAL_NAMESPACE,
});
const app = await buildApp(appDepsFromConfig(config, db, temporal));
app.addHook('onClose', async () => {
  await temporal.connection.close();
  await db.destroy();
});
await app.listen({ host: config.HOST, port: config.PORT });
onShutdownSignal(async () => {
  await app.close();
});
