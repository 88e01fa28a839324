// `npm run ops -- <command>`: the operator CLI. Reads the same environment as the api
// (DATABASE_URL is required: embedded PGlite belongs to `npm start` alone).
import { connectDatabase } from '../db/connect.ts';
import { connectTemporalClient } from '../temporal/client.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv } from './lib/runtime.ts';
import { EMAIL_USAGE, previewEmail, runEmailDrill } from './ops/email.ts';
import { EVENTS_USAGE, runEventsCommand, UsageError } from './ops/events.ts';

const USAGE = `usage: npm run ops -- <command> [--json]

${EVENTS_USAGE}
${EMAIL_USAGE}`;

function exitWithError(error: unknown): void {
  console.error(error instanceof UsageError ? error.message : error);
  process.exitCode = error instanceof UsageError ? 2 : 1;
}

loadDotEnv();
const args = process.argv.slice(2);
const json = args.includes('--json');
const argv = args.filter((arg) => arg !== '--json');
if (argv.length === 0 || argv[0] === 'help' || argv.includes('--help')) {
  console.log(USAGE);
  process.exit(argv.length === 0 ? 2 : 0);
}
if (argv[0] === 'email' && argv[1] === 'preview') {
  await previewEmail(argv.slice(2), json).catch(exitWithError);
  process.exit();
}
const config = loadConfigOrExit();
if (argv[0] === 'email' && argv[1] === 'drill') {
  await runEmailDrill(argv.slice(2), config, json).catch(exitWithError);
  process.exit();
}
const db = await connectDatabase(databaseTarget(config, false));
const temporal = await connectTemporalClient({
  address: config.TEMPORAL_ADDRESS,
  namespace: config.TEMPORAL_NAMESPACE,
});
try {
  if (argv[0] === 'events') await runEventsCommand(argv.slice(1), { db, temporal, config, json });
  else throw new UsageError(`unknown command ${argv[0]}\n\n${USAGE}`);
} catch (error) {
  exitWithError(error);
} finally {
  await temporal.connection.close();
  await db.destroy();
}
