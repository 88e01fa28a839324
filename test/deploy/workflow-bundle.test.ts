// The image's worker loads the workflow bundle its build stage made (`RUN node
// scripts/build-workflow-bundle.ts`). This builds one the same way and runs real work from it.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnManaged, waitFor } from '../../stack/processes.ts';
import { createActivityDeps } from '../../scripts/lib/worker-deps.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { createFulfillmentWorker } from '../../worker/worker.ts';
import { fulfillmentWorkflowId, rewardPurchaseKey } from '../../workflows/contracts.ts';
import { purchaseRows, settledFulfillment } from '../helpers/purchases.ts';
import { startTestStack, testEnv, type TestStack } from '../helpers/stack.ts';
import { fileTaskQueue } from '../helpers/file-resources.ts';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');

let stack: TestStack;
let bundleDir: string;
let bundlePath: string;
let buildOutput: string;
beforeAll(async () => {
  bundleDir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-built-bundle-'));
  bundlePath = path.join(bundleDir, 'dist', 'workflow-bundle.js');
  // The Dockerfile's build step, verbatim but for the output folder.
  const { stdout } = await run(
    process.execPath,
    ['scripts/build-workflow-bundle.ts', '--out', bundlePath],
    { cwd: root },
  );
  buildOutput = stdout;
  stack = await startTestStack({ worker: false });
});
afterAll(async () => {
  await stack?.close();
  await rm(bundleDir, { recursive: true, force: true });
});

describe('the prebuilt workflow bundle', () => {
  it('is written where --out says and reported', async () => {
    expect((await stat(bundlePath)).size).toBeGreaterThan(10_000);
    expect(buildOutput).toContain(`workflow bundle: ${bundlePath}`);
  });

  it('carries the OpenTelemetry workflow interceptors (workflows continue their starter’s trace)', async () => {
    expect(await readFile(bundlePath, 'utf8')).toContain(
      '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors.js',
    );
  });

  it('runs a real fulfillment on a worker that loads it', async () => {
    // A task queue of this test's own: no other test file's worker can pick the run up.
    const taskQueue = `bundle-test-${randomBytes(4).toString('hex')}`;
    const { worker, connection } = await createFulfillmentWorker({
      ...temporalTargetFromConfig(stack.config),
      deps: createActivityDeps(stack.config, stack.db),
      workflowBundlePath: bundlePath,
      taskQueue,
    });
    const running = worker.run();
    const rewardId = `bundle-${randomBytes(5).toString('hex')}`;
    const purchaseKey = rewardPurchaseKey(rewardId);
    const email = `${rewardId}@example.com`;
    try {
      await stack.db
        .insertInto('rewards')
        .values({
          reward_id: rewardId,
          kind: 'mission',
          mission_id: null,
          email,
          user_id: null,
          skus: ['ebook-idempotency-field-guide'],
          granted_by: 'bundle-test',
          revoked_at: null,
          revoke_reason: null,
        })
        .execute();
      const handle = await stack.temporal.workflow.start('fulfillmentWorkflow', {
        taskQueue,
        workflowId: fulfillmentWorkflowId(purchaseKey),
        args: [{ source: 'reward', purchaseKey, paymentIntentId: null, rewardId }],
      });
      const state = await settledFulfillment(stack.temporal, purchaseKey);
      expect(state.status).toBe('completed');
      const rows = await purchaseRows(stack.db, purchaseKey);
      expect(rows.orders).toMatchObject([{ source: 'reward' }]);
      expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
      expect(rows.emails).toMatchObject([{ kind: 'delivery', recipient: email }]);
      await handle.terminate('bundle test done');
    } finally {
      worker.shutdown();
      await running;
      await connection.close();
    }
  });

  it('is what `node scripts/worker.ts` polls with when WORKFLOW_BUNDLE_PATH names it', async () => {
    const child = spawnManaged(process.execPath, ['scripts/worker.ts'], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', ...testEnv({ WORKFLOW_BUNDLE_PATH: bundlePath }) },
    });
    try {
      // The SDK names a worker `<pid>@<host>`: this process's poller on the fulfillment queue.
      await waitFor(
        'the worker process polling the fulfillment task queue',
        async () => {
          const queue = await stack.temporal.workflowService.describeTaskQueue({
            namespace: stack.config.TEMPORAL_NAMESPACE,
            taskQueue: { name: fileTaskQueue },
          });
          return (queue.pollers ?? []).some((poller) =>
            poller.identity?.startsWith(`${child.child.pid}@`),
          );
        },
        {
          timeoutMs: 30_000,
          abort: () => (child.child.exitCode !== null ? `exited:\n${child.recentOutput()}` : null),
        },
      );
    } finally {
      await child.stop();
    }
    expect(child.child.exitCode).toBe(0);
  });

  it('stops a worker whose WORKFLOW_BUNDLE_PATH does not exist, naming the file', async () => {
    const missing = path.join(bundleDir, 'no-such-bundle.js');
    const failure = await run(process.execPath, ['scripts/worker.ts'], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', ...testEnv({ WORKFLOW_BUNDLE_PATH: missing }) },
    }).then(
      () => null,
      (error: { code?: number; stderr?: string }) => error,
    );
    expect(failure?.code).not.toBe(0);
    expect(failure?.stderr).toContain(missing);
  });
});
