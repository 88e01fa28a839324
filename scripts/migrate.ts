// `npm run migrate`: applies pending migrations; exits non-zero when one fails.
import { envSchema } from '../config/env.ts';
import { connectDatabase } from '../db/connect.ts';
import { migrateToLatest } from '../db/migrate.ts';
import { databaseTarget, loadDotEnv } from './lib/runtime.ts';

loadDotEnv();
const parsed = envSchema.pick({ DATABASE_URL: true, PGLITE_DATA_DIR: true }).safeParse(process.env);
if (!parsed.success) {
  console.error(
    `Invalid configuration:\n${parsed.error.issues.map((i) => `  - ${i.path.join('.')}: ${i.message}`).join('\n')}`,
  );
  process.exit(1);
}
const db = await connectDatabase(databaseTarget(parsed.data, true));
try {
  const results = await migrateToLatest(db);
  for (const result of results ?? []) console.log(`${result.status}: ${result.migrationName}`);
  console.log(results?.length ? 'migrations applied' : 'database is up to date');
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
