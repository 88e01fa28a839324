import { ActivityFailure, ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { classifyPermanentFailure } from '../../workflows/failures.ts';

const activityFailure = (
  retryState: ConstructorParameters<typeof ActivityFailure>[3],
  cause: Error,
): ActivityFailure =>
  new ActivityFailure('Activity task failed', 'sendOrderEmail', '7', retryState, 'worker', cause);

const hungAttempt = () =>
  activityFailure(
    'MAXIMUM_ATTEMPTS_REACHED',
    new TimeoutFailure('activity StartToClose timeout', undefined, 'START_TO_CLOSE'),
  );

describe('which step failures end a fulfillment in needs_attention', () => {
  it('keeps retrying an attempt that hung past its start-to-close timeout', () => {
    expect(classifyPermanentFailure(hungAttempt(), () => true)).toBeNull();
  });

  it('replays runs from before that rule as they ran: any timeout counted as a missing asset', () => {
    expect(classifyPermanentFailure(hungAttempt(), () => false)).toMatchObject({
      type: 'AssetMissing',
    });
  });

  it('flags a missing asset when the storage step’s retry window ran out', () => {
    const windowOver = activityFailure(
      'TIMEOUT',
      new TimeoutFailure('activity ScheduleToClose timeout', undefined, 'SCHEDULE_TO_CLOSE'),
    );
    expect(classifyPermanentFailure(windowOver, () => true)).toEqual({
      type: 'AssetMissing',
      message: 'asset still missing after its retry window: activity ScheduleToClose timeout',
    });
  });

  it('stops at once on a non-retryable type and keeps retrying an ordinary error', () => {
    const refused = activityFailure(
      'NON_RETRYABLE_FAILURE',
      ApplicationFailure.nonRetryable('550 mailbox unavailable', 'EmailRejected'),
    );
    expect(classifyPermanentFailure(refused, () => true)).toEqual({
      type: 'EmailRejected',
      message: '550 mailbox unavailable',
    });
    const flaky = activityFailure('MAXIMUM_ATTEMPTS_REACHED', new Error('provider answered 503'));
    expect(classifyPermanentFailure(flaky, () => true)).toBeNull();
  });
});
