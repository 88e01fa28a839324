import { cp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { makeScratchDir, type Cleanups } from '../../stack/cleanups.ts';
import { quietBundlerLogger, REPO_ROOT } from '../../stack/workflow-bundle.ts';
import { defineScenario } from '../harness.ts';

const HISTORIES_DIR = path.join(REPO_ROOT, 'test', 'histories');
// Where the change goes: at the top of the workflow, before its first command (the lean
// shape's own patch), so it meets every recorded fulfillment, whatever shape it ran.
const ANCHOR = '  if (!patched(LEAN_FULFILLMENT)) return fulfillmentBeforeLean(input);\n';
// A namespace import cannot clash with whatever the file already imports by name.
const IMPORT = "import * as chaosWorkflowApi from '@temporalio/workflow';\n";

/** A copy of workflows/ with fulfillment.ts changed by `insert`, bundled as a worker would. */
async function bundleChangedWorkflows(cleanups: Cleanups, insert: string): Promise<string> {
  const dir = await makeScratchDir(cleanups, 'fulfillment-chaos-replay-');
  await cp(path.join(REPO_ROOT, 'workflows'), path.join(dir, 'workflows'), { recursive: true });
  // The bundler resolves @temporalio/workflow from the copy's folder upwards.
  await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  const file = path.join(dir, 'workflows', 'fulfillment.ts');
  const source = await readFile(file, 'utf8');
  if (!source.includes(ANCHOR))
    throw new Error(`workflows/fulfillment.ts no longer contains ${JSON.stringify(ANCHOR)}`);
  await writeFile(file, IMPORT + source.replace(ANCHOR, insert + ANCHOR));
  const bundle = await bundleWorkflowCode({
    workflowsPath: path.join(dir, 'workflows', 'index.ts'),
    logger: quietBundlerLogger,
  });
  return bundle.code;
}

async function replayAll(
  code: string,
): Promise<{ replayed: string[]; failed: Map<string, string> }> {
  // Every shape's histories, as the replay test reads them (`lean/…` for the lean shape).
  const files = (await readdir(HISTORIES_DIR, { recursive: true }))
    .filter((file) => file.endsWith('.json'))
    .sort();
  const histories = await Promise.all(
    files.map(async (file) => ({
      workflowId: file.replace(/\.json$/, ''),
      history: historyFromJSON(JSON.parse(await readFile(path.join(HISTORIES_DIR, file), 'utf8'))),
    })),
  );
  const replayed: string[] = [];
  const failed = new Map<string, string>();
  for await (const result of Worker.runReplayHistories(
    { workflowBundle: { code }, replayName: 'chaos-replay' },
    histories,
  )) {
    replayed.push(result.workflowId);
    if (result.error)
      failed.set(result.workflowId, `${result.error.name}: ${result.error.message}`);
  }
  return { replayed, failed };
}

/**
 * 8. An incompatible change to the fulfillment workflow — a timer before its first activity —
 * fails the replay of the recorded histories (test/histories, as the replay test runs them);
 * the same change behind `patched()` replays cleanly.
 */
export const replayCheck = defineScenario({
  name: 'replay',
  title: 'an incompatible workflow change fails replay; guarded by patched() it passes',
  async run({ log, verdict, cleanups }) {
    log('bundling the unguarded change');
    const unguarded = await replayAll(
      await bundleChangedWorkflows(cleanups, "  await chaosWorkflowApi.sleep('1 millisecond');\n"),
    );
    log('bundling the change behind patched()');
    const guarded = await replayAll(
      await bundleChangedWorkflows(
        cleanups,
        "  if (chaosWorkflowApi.patched('chaos-timer-before-recording')) await chaosWorkflowApi.sleep('1 millisecond');\n",
      ),
    );
    const fulfillments = unguarded.replayed.filter((id) =>
      path.basename(id).startsWith('fulfillment-'),
    );
    const nondeterministic = [...unguarded.failed.values()].filter((error) =>
      /nondetermin/i.test(error),
    ).length;
    verdict.expect(fulfillments.length > 0, 'no recorded fulfillment history to replay');
    verdict.expect(
      fulfillments.every((id) => unguarded.failed.has(id)),
      `the unguarded change replayed ${fulfillments.filter((id) => !unguarded.failed.has(id)).join(', ')} without an error`,
    );
    verdict.expect(
      nondeterministic === unguarded.failed.size,
      `unguarded failures other than non-determinism: ${[...unguarded.failed.values()].join('; ')}`,
    );
    verdict.expect(
      guarded.failed.size === 0,
      `the patched() change failed: ${[...guarded.failed].map(([id, error]) => `${id}: ${error}`).join('; ')}`,
    );
    return (
      `${unguarded.replayed.length} recorded histories; unguarded change: ` +
      `${unguarded.failed.size} fail (${nondeterministic} non-determinism, every fulfillment history), ` +
      `guarded by patched(): ${guarded.failed.size} fail of ${guarded.replayed.length}`
    );
  },
});
