import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { connectDatabase } from '../../db/connect.ts';
import { resolveBinary } from '../../scripts/lib/binaries.ts';
import { getFreePort, spawnManaged, waitFor } from '../../scripts/lib/processes.ts';
import { createLocalStorage } from '../../activities/storage/driver.ts';
import { prepareLocalDatabase, seedDemoAssets } from '../../scripts/lib/services.ts';
import { startTemporalDevServer } from '../../scripts/lib/temporal-dev-server.ts';
import { workflowsPath } from '../../temporal/worker.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    adminDatabaseUrl: string;
    temporalAddress: string;
    stripeApiUrl: string;
    workflowBundlePath: string;
    storageDir: string;
    timeSkippingServerPath: string;
  }
}

/** The machine's PostgreSQL; DATABASE_URL may point at another server's admin database. */
const adminUrl = process.env['DATABASE_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Starts what the suite needs and returns the teardown: a Temporal dev server and localstripe
 * on free ports, a throwaway database (migrated, demo catalog seeded) and a workflow bundle.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups: (() => Promise<void>)[] = [];
  const teardown = async (): Promise<void> => {
    for (const cleanup of cleanups.reverse()) {
      await cleanup().catch((error: unknown) => console.error('test teardown:', error));
    }
  };
  try {
    const databaseName = `fulfillment_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database ${databaseName}`);
    await admin.end();
    cleanups.push(async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      await client.query(`drop database if exists ${databaseName} with (force)`);
      await client.end();
    });
    const url = new URL(adminUrl);
    url.pathname = `/${databaseName}`;
    const databaseUrl = url.toString();
    const db = await connectDatabase({ kind: 'postgres', url: databaseUrl });
    await prepareLocalDatabase(db);
    await db.destroy();

    const [temporalPort, stripePort] = [await getFreePort(), await getFreePort()];
    const [devServer, localstripeBin] = await Promise.all([
      startTemporalDevServer({ port: temporalPort, uiPort: null }),
      resolveBinary('localstripe'),
    ]);
    cleanups.push(() => devServer.stop());
    const localstripe = spawnManaged(localstripeBin, [
      '--port',
      String(stripePort),
      '--from-scratch',
    ]);
    cleanups.push(() => localstripe.stop());
    const stripeApiUrl = `http://127.0.0.1:${stripePort}`;
    await waitFor(
      'localstripe',
      async () =>
        (
          await fetch(`${stripeApiUrl}/v1/customers`, {
            headers: { authorization: 'Bearer sk_test_x' },
          })
        ).ok,
      {
        abort: () =>
          localstripe.child.exitCode !== null ? `exited:\n${localstripe.recentOutput()}` : null,
      },
    );

    const storageDir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-storage-'));
    cleanups.push(() => rm(storageDir, { recursive: true, force: true }));
    await seedDemoAssets(createLocalStorage(storageDir));
    const timeSkippingServerPath = await resolveBinary('temporal-test-server');

    const bundleDir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-bundle-'));
    cleanups.push(() => rm(bundleDir, { recursive: true, force: true }));
    const bundle = await bundleWorkflowCode({ workflowsPath, logger: silentLogger });
    const workflowBundlePath = path.join(bundleDir, 'workflow-bundle.js');
    await writeFile(workflowBundlePath, bundle.code);

    project.provide('databaseUrl', databaseUrl);
    project.provide('adminDatabaseUrl', adminUrl);
    project.provide('temporalAddress', devServer.address);
    project.provide('stripeApiUrl', stripeApiUrl);
    project.provide('workflowBundlePath', workflowBundlePath);
    project.provide('storageDir', storageDir);
    project.provide('timeSkippingServerPath', timeSkippingServerPath);
  } catch (error) {
    await teardown();
    throw error;
  }
  return teardown;
}

const noop = (): void => undefined;
const silentLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: console.error,
  log: noop,
};
