import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { TestProject } from 'vitest/node';
import { resolveBinary } from '../../stack/binaries.ts';
import { getFreePort } from '../../stack/processes.ts';
import { startLocalstripe } from '../../stack/localstripe.ts';
import { createLocalStorage } from '../../drivers/storage/driver.ts';
import { seedDemoAssets } from '../../stack/demo-data.ts';
import { adminDatabaseUrl, createThrowawayDatabase } from '../../stack/throwaway-database.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import { generatePayloadKeyEntry } from '../../security/payload-codec.ts';
import { failureConverterPath } from '../../temporal/data-converter.ts';
import { workflowsPath } from '../../worker/worker.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    adminDatabaseUrl: string;
    temporalAddress: string;
    stripeApiUrl: string;
    workflowBundlePath: string;
    storageDir: string;
    /** One for the whole run: any test file's worker may sign a link another file's api checks. */
    downloadTokenSecret: string;
    timeSkippingServerPath: string;
    /** PAYLOAD_ENCRYPTION_KEYS for the run: every file's clients and workers share Temporal. */
    payloadEncryptionKeys: string;
    searchAttributeHashKey: string;
  }
}

const adminUrl = adminDatabaseUrl();

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
    const database = await createThrowawayDatabase('fulfillment_test', adminUrl);
    cleanups.push(() => database.drop());
    const databaseUrl = database.url;

    const [temporalPort, stripePort] = [await getFreePort(), await getFreePort()];
    const [devServer, localstripe] = await Promise.allSettled([
      startTemporalDevServer({ port: temporalPort, uiPort: null }),
      startLocalstripe({ port: stripePort, fromScratch: true }),
    ]);
    // Whichever started is stopped by the teardown, even when the other one failed.
    for (const started of [devServer, localstripe])
      if (started.status === 'fulfilled') cleanups.push(() => started.value.stop());
    if (devServer.status === 'rejected') throw devServer.reason;
    if (localstripe.status === 'rejected') throw localstripe.reason;
    const stripeApiUrl = localstripe.value.url;

    const storageDir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-storage-'));
    cleanups.push(() => rm(storageDir, { recursive: true, force: true }));
    await seedDemoAssets(createLocalStorage(storageDir));
    const timeSkippingServerPath = await resolveBinary('temporal-test-server');

    const bundleDir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-bundle-'));
    cleanups.push(() => rm(bundleDir, { recursive: true, force: true }));
    const bundle = await bundleWorkflowCode({
      workflowsPath,
      failureConverterPath,
      logger: silentLogger,
    });
    const workflowBundlePath = path.join(bundleDir, 'workflow-bundle.js');
    await writeFile(workflowBundlePath, bundle.code);

    project.provide('databaseUrl', databaseUrl);
    project.provide('adminDatabaseUrl', adminUrl);
    project.provide('temporalAddress', devServer.value.address);
    project.provide('stripeApiUrl', stripeApiUrl);
    project.provide('workflowBundlePath', workflowBundlePath);
    project.provide('storageDir', storageDir);
    project.provide('downloadTokenSecret', randomBytes(32).toString('hex'));
    project.provide('timeSkippingServerPath', timeSkippingServerPath);
    project.provide('payloadEncryptionKeys', generatePayloadKeyEntry('test-run'));
    project.provide('searchAttributeHashKey', randomBytes(32).toString('hex'));
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
