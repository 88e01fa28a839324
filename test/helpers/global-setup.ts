import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { resolveBinary } from '../../stack/binaries.ts';
import { Cleanups, makeScratchDir } from '../../stack/cleanups.ts';
import { createDemoStorageDir } from '../../stack/demo-data.ts';
import { getFreePort } from '../../stack/processes.ts';
import { startLocalstripe } from '../../stack/localstripe.ts';
import {
  adminDatabaseUrl,
  createThrowawayDatabase,
  dropDatabasesNamed,
} from '../../stack/throwaway-database.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import { writeWorkflowBundle } from '../../stack/workflow-bundle.ts';
import { generatePayloadKeyEntry } from '../../security/payload-codec.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /**
     * The migrated, seeded database each test file copies (test/helpers/file-resources.ts).
     * Nothing connects to it: a copy needs its template idle.
     */
    templateDatabase: string;
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
 * on free ports, a throwaway database (migrated, demo catalog seeded: the template each file copies) and a workflow bundle.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cleanups = new Cleanups('test teardown');
  try {
    const database = await createThrowawayDatabase('fulfillment_test', adminUrl);
    cleanups.add('database', () => database.drop());
    // Each file's copy (test/helpers/file-setup.ts) is dropped after the file; one left by a
    // file that was killed goes with the run.
    cleanups.add('file databases', () =>
      dropDatabasesNamed(adminUrl, `${new URL(database.url).pathname.slice(1)}_f`),
    );

    const [temporalPort, stripePort] = [await getFreePort(), await getFreePort()];
    const [devServer, localstripe] = await Promise.allSettled([
      startTemporalDevServer({ port: temporalPort, uiPort: null }),
      startLocalstripe({ port: stripePort, fromScratch: true }),
    ]);
    // Whichever started is stopped by the teardown, even when the other one failed.
    for (const [name, started] of [
      ['temporal dev server', devServer],
      ['localstripe', localstripe],
    ] as const)
      if (started.status === 'fulfilled') cleanups.add(name, () => started.value.stop());
    if (devServer.status === 'rejected') throw devServer.reason;
    if (localstripe.status === 'rejected') throw localstripe.reason;

    const storageDir = await createDemoStorageDir(cleanups, 'fulfillment-storage-');
    const timeSkippingServerPath = await resolveBinary('temporal-test-server');
    const workflowBundlePath = await writeWorkflowBundle(
      path.join(await makeScratchDir(cleanups, 'fulfillment-bundle-'), 'workflow-bundle.js'),
    );

    project.provide('templateDatabase', new URL(database.url).pathname.slice(1));
    project.provide('adminDatabaseUrl', adminUrl);
    project.provide('temporalAddress', devServer.value.address);
    project.provide('stripeApiUrl', localstripe.value.url);
    project.provide('workflowBundlePath', workflowBundlePath);
    project.provide('storageDir', storageDir);
    project.provide('downloadTokenSecret', randomBytes(32).toString('hex'));
    project.provide('timeSkippingServerPath', timeSkippingServerPath);
    project.provide('payloadEncryptionKeys', generatePayloadKeyEntry('test-run'));
    project.provide('searchAttributeHashKey', randomBytes(32).toString('hex'));
  } catch (error) {
    await cleanups.runAll();
    throw error;
  }
  return () => cleanups.runAll();
}
