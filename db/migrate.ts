import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely';
import type { Db } from './database.ts';

const migrationsDir = path.resolve(import.meta.dirname, '../migrations');

/**
 * Loads `migrations/<timestamp>_<name>.ts` with the runtime's own `import()`, so the same
 * provider works under Node's type stripping and under vitest (Kysely's FileMigrationProvider
 * imports from inside node_modules, where neither can load TypeScript).
 */
export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    const files = (await readdir(migrationsDir)).filter((f) =>
      /^\d{4}_\d{2}_\d{2}_.+\.ts$/.test(f),
    );
    const migrations: Record<string, Migration> = {};
    for (const file of files.sort()) {
      migrations[file.replace(/\.ts$/, '')] = (await import(
        pathToFileURL(path.join(migrationsDir, file)).href
      )) as Migration;
    }
    return migrations;
  },
};

/** Applies every pending migration; throws with the failing migration's name and cause. */
export async function migrateToLatest(db: Db): Promise<MigrationResultSet['results']> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw new Error(
      `migration ${failed} failed: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      { cause: error },
    );
  }
  return results;
}
