import { existsSync } from 'node:fs';
import { ConfigError, loadConfig, type Config } from '../../config/env.ts';
import type { DatabaseTarget } from '../../db/connect.ts';

/** Loads `.env` from the working directory when there is one (real env vars win). */
export function loadDotEnv(file = '.env'): void {
  if (existsSync(file)) process.loadEnvFile(file);
}

/** Parses the environment or stops the process with the message naming every problem. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * Where the data lives. Embedded PGlite serves exactly one process, so only `npm start` (one
 * process for everything) may fall back to it; api and worker run alone need DATABASE_URL.
 */
export function databaseTarget(
  config: Pick<Config, 'DATABASE_URL' | 'PGLITE_DATA_DIR'>,
  allowEmbedded: boolean,
): DatabaseTarget {
  if (config.DATABASE_URL) return { kind: 'postgres', url: config.DATABASE_URL };
  if (allowEmbedded) return { kind: 'pglite', dataDir: config.PGLITE_DATA_DIR };
  console.error(
    'Invalid configuration:\n  - DATABASE_URL: is required when the api or worker runs on its own (embedded PGlite serves only `npm start`)',
  );
  return process.exit(1);
}

/**
 * Runs `stop` once on SIGINT/SIGTERM, then exits 0 (1 when it failed); a second signal exits
 * at once. With `forceExitAfterMs`, a stop that is still running by then exits 1, so a hung
 * close can never outlive the orchestrator's patience silently.
 */
export function onShutdownSignal(
  stop: (signal: string) => Promise<void>,
  { forceExitAfterMs }: { forceExitAfterMs?: number } = {},
): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(130);
    stopping = true;
    if (forceExitAfterMs !== undefined) {
      setTimeout(() => {
        console.error(`shutdown did not finish within ${forceExitAfterMs} ms; exiting`);
        process.exit(1);
      }, forceExitAfterMs).unref();
    }
    stop(signal).then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('shutdown failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
