// `npm run api`: the HTTP api alone (scale it out; it keeps no state of its own).
import { buildApp, loggerOptions } from '../api/app.ts';
import { connectDatabase } from '../db/connect.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv, onShutdownSignal } from './lib/runtime.ts';

loadDotEnv();
const config = loadConfigOrExit();
const db = await connectDatabase(databaseTarget(config, false));
const temporal = await connectTemporalClient({
  address: config.TEMPORAL_ADDRESS,
  namespace: config.TEMPORAL_NAMESPACE,
});
const app = await buildApp({
  db,
  temporal,
  stripeWebhookSecrets: config.STRIPE_WEBHOOK_SECRETS,
  devOutbox: config.EMAIL_DRIVER === 'outbox' && config.NODE_ENV !== 'production',
  logger: loggerOptions(config.LOG_LEVEL),
});
app.addHook('onClose', async () => {
  await temporal.connection.close();
  await db.destroy();
});
await app.listen({ host: config.HOST, port: config.PORT });
onShutdownSignal(async () => {
  await app.close();
});
