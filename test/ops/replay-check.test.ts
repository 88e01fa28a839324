// The deploy gate of the patching discipline: `npm run ops -- workflows replay-check` replays
// the histories of running workflows against the code about to ship. Real fulfillments on the
// suite's Temporal (reminding, so still open), payloads encrypted as in production.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cleanups, makeScratchDir } from '../../stack/cleanups.ts';
import { waitFor } from '../../stack/processes.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { settledFulfillment } from '../helpers/purchases.ts';
import { exitOf, serviceEnv, spawnService } from '../helpers/services.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { paymentSucceeded, postSignedEvent } from '../helpers/stripe.ts';

const cleanups = new Cleanups('replay-check test');
let stack: TestStack;
let dir: string;
let query: string;
beforeAll(async () => {
  dir = await makeScratchDir(cleanups, 'fulfillment-replay-check-');
  stack = await startTestStack();
  cleanups.add('stack', () => stack.close());
  const ids: string[] = [];
  for (let i = 0; i < 2; i += 1) {
    const event = paymentSucceeded();
    expect((await postSignedEvent(stack.app, event, stack.webhookSecret)).statusCode).toBe(200);
    await settledFulfillment(stack.temporal, event.data.object.id);
    ids.push(fulfillmentWorkflowId(event.data.object.id));
  }
  query = `WorkflowId IN (${ids.map((id) => `"${id}"`).join(', ')}) AND ExecutionStatus = "Running"`;
  await waitFor('visibility lists both runs', async () => {
    const { count } = await stack.temporal.workflow.count(query);
    return count === 2;
  });
}, 120_000);
afterAll(() => cleanups.runAll());

const replayCheck = (args: string[]) =>
  exitOf(
    spawnService('ops', serviceEnv(), dir, [
      'workflows',
      'replay-check',
      '--query',
      query,
      ...args,
    ]),
    90_000,
  );

describe('workflows replay-check', () => {
  it('passes when the code about to ship replays every open run', async () => {
    const run = await replayCheck(['--json']);
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('"replayed": 2');
    expect(run.output).toContain('"failures": []');
  });

  it('fails, naming each run, for a change that is not guarded by patched()', async () => {
    const { code } = await bundleWorkflowCode({
      workflowsPath: path.resolve(import.meta.dirname, '../fixtures/incompatible-workflows.ts'),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    });
    const bundle = path.join(dir, 'incompatible-bundle.js');
    await writeFile(bundle, code);
    const run = await replayCheck(['--bundle', bundle]);
    expect(run.code, run.output).toBe(1);
    expect(run.output).toContain('replayed 2 open workflow(s): 2 would break');
    expect(run.output).toMatch(/fulfillment-pi_\w+: .*[Nn]ondetermin/);
  });
});
