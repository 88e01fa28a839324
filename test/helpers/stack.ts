import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { buildApp } from '../../api/app.ts';
import { loadConfig, type Config } from '../../config/env.ts';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { createActivityDeps } from '../../scripts/lib/services.ts';
import { connectTemporalClient } from '../../temporal/client.ts';
import { installTemporalRuntime } from '../../temporal/runtime.ts';
import { createFulfillmentWorker } from '../../temporal/worker.ts';

export interface TestStack {
  config: Config;
  db: Db;
  temporal: Client;
  app: FastifyInstance;
  webhookSecret: string;
  close(): Promise<void>;
}

/** Config for a test file: the suite's database, Temporal and localstripe, a fresh secret. */
export function testConfig(overrides: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: inject('databaseUrl'),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    STRIPE_API_URL: inject('stripeApiUrl'),
    STRIPE_SECRET_KEY: 'sk_test_suite',
    STRIPE_WEBHOOK_SECRETS: `whsec_${randomBytes(16).toString('hex')}`,
    ...overrides,
  });
}

/**
 * The service as `npm start` wires it, against the suite's real Postgres and Temporal: a
 * worker polling the fulfillment task queue and the api (use `app.inject` or listen).
 */
export async function startTestStack(overrides: Record<string, string> = {}): Promise<TestStack> {
  installTemporalRuntime();
  const config = testConfig(overrides);
  const db = await connectDatabase({ kind: 'postgres', url: inject('databaseUrl') });
  const target = { address: config.TEMPORAL_ADDRESS, namespace: config.TEMPORAL_NAMESPACE };
  const temporal = await connectTemporalClient(target);
  const { worker, connection } = await createFulfillmentWorker({
    ...target,
    deps: createActivityDeps(config, db),
    workflowBundlePath: inject('workflowBundlePath'),
  });
  const workerRun = worker.run();
  const app = await buildApp({
    db,
    temporal,
    stripeWebhookSecrets: config.STRIPE_WEBHOOK_SECRETS,
    devOutbox: true,
  });
  return {
    config,
    db,
    temporal,
    app,
    webhookSecret: config.STRIPE_WEBHOOK_SECRETS[0]!,
    async close() {
      await app.close();
      worker.shutdown();
      await workerRun;
      await connection.close();
      await temporal.connection.close();
      await db.destroy();
    },
  };
}
