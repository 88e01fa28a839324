// `npm run ops -- <command>`: the operator CLI. Reads the same environment as the api
// (DATABASE_URL is required: embedded PGlite belongs to `npm start` alone).
import { connectDatabase } from '../db/connect.ts';
import { closeTemporalClient, connectTemporalClient } from '../temporal/client.ts';
import { diagnoseTemporalConnection } from '../temporal/connection-check.ts';
import { temporalTargetFromConfig } from '../temporal/data-converter.ts';
import { databaseTarget, loadConfigOrExit, loadDotEnv } from './lib/runtime.ts';
import { EMAIL_USAGE, previewEmail, runEmailDrill } from './ops/email.ts';
import { EVENTS_USAGE, runEventsCommand, UsageError } from './ops/events.ts';
import { runTemporalQueryCommand, TEMPORAL_QUERY_USAGE } from './ops/temporal-query.ts';
import { RECONCILE_USAGE, runReconcileCommand } from './ops/reconcile.ts';
import { runStuckCommand, STUCK_USAGE } from './ops/stuck.ts';
import { OperationError } from '../support/context.ts';
import { JOBS_USAGE, runJobsCommand } from './ops/jobs.ts';
import {
  ENTITLEMENTS_USAGE,
  runEntitlementsCommand,
  runResendCommand,
} from './ops/entitlements.ts';
import { DSAR_USAGE, runDsarCommand } from './ops/dsar.ts';
import { CLAIMS_USAGE, runClaimsCommand } from './ops/claims.ts';
import { DOWNLOADS_USAGE, runDownloadsCommand } from './ops/downloads.ts';
import {
  CUSTOMERS_USAGE,
  PRODUCTS_USAGE,
  runCustomersCommand,
  runProductsCommand,
} from './ops/customers.ts';
import { CATALOG_USAGE, runCatalogCommand } from './ops/catalog.ts';
import { runSchedulesCommand, SCHEDULES_USAGE } from './ops/schedules.ts';
import { runWorkflowsCommand, WORKFLOWS_USAGE } from './ops/workflows.ts';
import { PREFLIGHT_USAGE, runPreflightCommand } from './ops/preflight.ts';
import { ALERTS_USAGE, runAlertsCommand } from './ops/alerts.ts';
import { AUDIT_USAGE, runAuditCommand } from './ops/audit.ts';

const USAGE = `usage: npm run ops -- <command> [--json]

${EVENTS_USAGE}
${EMAIL_USAGE}
${TEMPORAL_QUERY_USAGE}
${STUCK_USAGE}
${RECONCILE_USAGE}
${JOBS_USAGE}
${ENTITLEMENTS_USAGE}
${CLAIMS_USAGE}
${DOWNLOADS_USAGE}
${PRODUCTS_USAGE}
${CUSTOMERS_USAGE}
${DSAR_USAGE}
${CATALOG_USAGE}
${SCHEDULES_USAGE}
${WORKFLOWS_USAGE}
${PREFLIGHT_USAGE}
${ALERTS_USAGE}
${AUDIT_USAGE}`;

function exitWithError(error: unknown): void {
  // A refused operation (unknown reference, invalid input, wrong state) is its message alone.
  console.error(
    error instanceof UsageError || error instanceof OperationError ? error.message : error,
  );
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
if (argv[0] === 'temporal-query') {
  // Needs only the hash key and the UI's address, not the database or Stripe.
  try {
    runTemporalQueryCommand(argv.slice(1), process.env, json);
  } catch (error) {
    exitWithError(error);
  }
  process.exit();
}
const config = loadConfigOrExit();
if (argv[0] === 'email' && argv[1] === 'drill') {
  await runEmailDrill(argv.slice(2), config, json).catch(exitWithError);
  process.exit();
}
const db = await connectDatabase(databaseTarget(config, false));
if (argv[0] === 'preflight') {
  // Stripe, storage and the catalog: Temporal plays no part.
  try {
    await runPreflightCommand(argv.slice(1), { db, config, json });
  } catch (error) {
    exitWithError(error);
  } finally {
    await db.destroy();
  }
  process.exit();
}
if (argv[0] === 'alerts' || argv[0] === 'audit') {
  // The database alone: alerts and audit rows need no Temporal call.
  await (
    argv[0] === 'alerts'
      ? runAlertsCommand(argv.slice(1), { db, config, json })
      : runAuditCommand(argv.slice(1), { db, json })
  ).catch(exitWithError);
  await db.destroy();
  process.exit();
}
const target = temporalTargetFromConfig(config);
/** The CLI waits for nothing: a Temporal that does not answer, or refuses, is said at once. */
async function connectOrExit() {
  try {
    const client = await connectTemporalClient(target);
    await client.workflowService.describeNamespace({ namespace: target.namespace });
    return client;
  } catch (error) {
    const problem = await diagnoseTemporalConnection(error, target);
    console.error(`Cannot connect to Temporal: ${problem.message}`);
    await db.destroy();
    return process.exit(1);
  }
}
const temporal = await connectOrExit();
try {
  if (argv[0] === 'events') await runEventsCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'stuck')
    await runStuckCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'reconcile')
    await runReconcileCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'jobs') await runJobsCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'resend')
    await runResendCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'entitlements')
    await runEntitlementsCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'downloads')
    await runDownloadsCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'claims')
    await runClaimsCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'products')
    await runProductsCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'customers')
    await runCustomersCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'dsar') await runDsarCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'catalog')
    await runCatalogCommand(argv.slice(1), { db, temporal, config, json });
  else if (argv[0] === 'schedules')
    await runSchedulesCommand(argv.slice(1), { temporal, config, json });
  else if (argv[0] === 'workflows')
    await runWorkflowsCommand(argv.slice(1), { temporal, config, json });
  else throw new UsageError(`unknown command ${argv[0]}\n\n${USAGE}`);
} catch (error) {
  exitWithError(error);
} finally {
  await closeTemporalClient(temporal);
  await db.destroy();
}
