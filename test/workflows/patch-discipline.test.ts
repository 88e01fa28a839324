// The patching discipline (docs/DEPLOY.md "Workflow changes"): workflow changes reach running
// runs through patched()/deprecatePatch(), and the replay test (replay.test.ts) proves it by
// replaying recorded histories. These tests keep that proof honest: the histories it replays
// cannot change or vanish unnoticed, and no workflow type goes without one unless it is
// declared short-lived.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as registered from '../../workflows/index.ts';

const historiesDir = path.resolve(import.meta.dirname, '../histories');
const manifestFile = path.join(historiesDir, 'MANIFEST.sha256');

/**
 * Workflow types whose runs end within minutes, so a deploy meets at most a few in flight
 * (during the rollout they retry a failed workflow task until a new worker takes it). A type
 * that waits on timers or signals for longer needs a recorded history instead.
 */
const SHORT_LIVED: Record<string, string> = {
  resendLinksWorkflow: 'one email through the ledger, then done',
  claimLinkWorkflow: 'one claim-link email through the ledger, then done',
  rewardRevocationWorkflow: 'revokes, emails and audits, then done',
  operatorRevocationWorkflow: 'one cancellation email for an operator’s revoke, then done',
  opsStuckScanWorkflow: 'one scan activity per scheduled run',
  reconciliationWorkflow: 'one reconciliation of a day, minutes at most',
};

/** `<sha256>  <file>` lines, as `sha256sum` writes them (files relative to test/histories/). */
function manifest(): Map<string, string> {
  return new Map(
    readFileSync(manifestFile, 'utf8')
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => {
        const [hash, file] = line.trim().split(/\s+\*?/);
        return [file!, hash!];
      }),
  );
}
const sha256 = (file: string) =>
  createHash('sha256')
    .update(readFileSync(path.join(historiesDir, file)))
    .digest('hex');
/** Every recorded history, in the top folder and in each shape's folder (e.g. `lean/…`). */
const historyFiles = () =>
  readdirSync(historiesDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.json'))
    .map((file) => file.split(path.sep).join('/'))
    .sort();

describe('patching discipline', () => {
  it('changes or drops a recorded history only together with its line in MANIFEST.sha256', () => {
    const listed = manifest();
    const problems: string[] = [];
    for (const [file, hash] of listed) {
      if (!historyFiles().includes(file))
        problems.push(
          `${file} was deleted: remove a history only once no run of its shape can still be open (namespace retention + the longest run), and drop its line from MANIFEST.sha256 in the same commit`,
        );
      else if (sha256(file) !== hash)
        problems.push(
          `${file} changed: re-recording a history hides the very break the replay test catches — guard the change with patched() and record the new behaviour under a new name`,
        );
    }
    for (const file of historyFiles().filter((f) => !listed.has(f)))
      problems.push(`${file} is new: add "${sha256(file)}  ${file}" to MANIFEST.sha256`);
    expect(problems).toEqual([]);
  });

  it('has a recorded history for every long-lived workflow type the worker registers', () => {
    const recordedTypes = new Set(
      historyFiles().map((file) => {
        const { events } = JSON.parse(readFileSync(path.join(historiesDir, file), 'utf8')) as {
          events: {
            workflowExecutionStartedEventAttributes?: { workflowType?: { name: string } };
          }[];
        };
        return events[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;
      }),
    );
    const uncovered = Object.keys(registered).filter(
      (type) => !recordedTypes.has(type) && !(type in SHORT_LIVED),
    );
    expect(
      uncovered,
      'record a history (npm run record-histories) or declare the type short-lived, with why',
    ).toEqual([]);
    // Declared short-lived yet recorded is fine; recorded histories of long runs are the point.
    expect(recordedTypes.has('fulfillmentWorkflow')).toBe(true);
  });
});
