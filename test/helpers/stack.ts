import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { buildApp, type AppDeps } from '../../api/app.ts';
import { loadConfig, type Config } from '../../config/env.ts';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { fileDatabaseUrl, fileTaskQueue } from './file-resources.ts';
import { appDepsFromConfig } from '../../scripts/lib/app-options.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { connectTemporalClient, type TemporalTarget } from '../../temporal/client.ts';
import { startInProcessWorker, type InProcessWorker } from '../../stack/in-process-worker.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { installTemporalRuntime } from '../../worker/runtime.ts';

export interface TestStack {
  config: Config;
  db: Db;
  temporal: Client;
  app: FastifyInstance;
  webhookSecret: string;
  close(): Promise<void>;
}

/**
 * Config for a test file: the file's own database and task queue, the suite's Temporal and
 * localstripe, a fresh secret.
 */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig(testEnv(overrides));
}

/**
 * The environment behind `testConfig`, for processes a test spawns (`node scripts/api.ts`):
 * the file's database and task queue, the suite's Temporal, localstripe and payload keys, a
 * fresh webhook secret.
 */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: fileDatabaseUrl(),
    TEMPORAL_TASK_QUEUE: fileTaskQueue,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    STRIPE_API_URL: inject('stripeApiUrl'),
    STRIPE_SECRET_KEY: 'sk_test_suite',
    STRIPE_WEBHOOK_SECRETS: `whsec_${randomBytes(16).toString('hex')}`,
    STORAGE_LOCAL_DIR: inject('storageDir'),
    DOWNLOAD_TOKEN_SECRETS: inject('downloadTokenSecret'),
    PAYLOAD_ENCRYPTION_KEYS: inject('payloadEncryptionKeys'),
    SEARCH_ATTRIBUTE_HASH_KEY: inject('searchAttributeHashKey'),
    ...overrides,
  };
}

/**
 * The service as `npm start` wires it, against the suite's real Postgres and Temporal: a
 * worker polling the fulfillment task queue and the api (use `app.inject` or listen).
 */
export async function startTestStack(
  options: { env?: Record<string, string>; worker?: boolean; app?: Partial<AppDeps> } = {},
): Promise<TestStack> {
  installTemporalRuntime();
  const config = testConfig(options.env);
  const db = await connectDatabase({ kind: 'postgres', url: config.DATABASE_URL! });
  const target = temporalTargetFromConfig(config);
  const temporal = await connectTemporalClient(target);
  const running = options.worker === false ? null : await startTestWorker(target, config, db);
  const appDeps = appDepsFromConfig(config, db, temporal);
  const app = await buildApp({
    ...appDeps,
    // Tests drive the relay themselves.
    relay: undefined,
    devOutbox: true,
    logger: false,
    ...options.app,
    // Test files share one database: each stack counts its rate limits apart.
    security: {
      ...appDeps.security,
      rateLimitScope: `test-${randomBytes(6).toString('hex')}`,
      ...options.app?.security,
    },
  });
  return {
    config,
    db,
    temporal,
    app,
    webhookSecret: config.STRIPE_WEBHOOK_SECRETS[0]!,
    async close() {
      await app.close();
      await running?.stop();
      await temporal.connection.close();
      await db.destroy();
    },
  };
}

/** A fulfillment worker against `target` with the suite's prebuilt bundle; `stop` drains it. */
export function startTestWorker(
  target: TemporalTarget,
  config: Config,
  db: Db,
): Promise<InProcessWorker> {
  return startInProcessWorker({
    ...target,
    deps: createActivityDeps(config, db),
    workflowBundlePath: inject('workflowBundlePath'),
  });
}
