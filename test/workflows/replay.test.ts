import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { Worker } from '@temporalio/worker';
import { tracingWorkerOptions } from '../../worker/tracing.ts';
import { describe, expect, it } from 'vitest';
import { inject } from 'vitest';

const historiesDir = path.resolve(import.meta.dirname, '../histories');

describe('replay safety', () => {
  it('replays every recorded history against the current workflow code without non-determinism', async () => {
    // The histories of every workflow shape that ran in production: the top level from before
    // the lean fulfillment, one folder per shape since (`npm run record-histories -- <label>`).
    const files = (await readdir(historiesDir, { recursive: true }))
      .filter((file) => file.endsWith('.json'))
      .sort();
    expect(files.length).toBeGreaterThanOrEqual(12);
    const histories = await Promise.all(
      files.map(async (file) => ({
        workflowId: file.replace(/\.json$/, ''),
        history: historyFromJSON(JSON.parse(await readFile(path.join(historiesDir, file), 'utf8'))),
      })),
    );

    const failures: string[] = [];
    const replayed: string[] = [];
    for await (const result of Worker.runReplayHistories(
      {
        workflowBundle: { codePath: inject('workflowBundlePath') },
        replayName: 'ci-replay',
        // The bundle's tracing interceptors call their sink (dropped while replaying).
        sinks: tracingWorkerOptions().sinks,
      },
      histories,
    )) {
      replayed.push(result.workflowId);
      if (result.error) failures.push(`${result.workflowId}: ${result.error.message}`);
    }
    expect(failures).toEqual([]);
    expect(replayed.sort()).toEqual(files.map((file) => file.replace(/\.json$/, '')));
  });
});
