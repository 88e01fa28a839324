import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rewardPurchaseKey, rewardRevocationWorkflowId } from '../../workflows/contracts.ts';
import {
  emailKinds,
  entitlementStatuses,
  purchaseRows,
  settledFulfillment,
} from '../helpers/purchases.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';

const token = randomBytes(24).toString('hex');
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack({ env: { SERVICE_TOKENS: `missions:${token}` } });
});
afterAll(async () => {
  await stack?.close();
});

const grant = (body: unknown, bearer: string | null = token) =>
  stack.app.inject({
    method: 'POST',
    url: '/v1/rewards',
    headers: bearer ? { authorization: `Bearer ${bearer}` } : {},
    payload: body as object,
  });

const newReward = (overrides: Record<string, unknown> = {}) => ({
  reward_id: `mission-${randomBytes(5).toString('hex')}`,
  kind: 'mission',
  mission_id: 'mission-42',
  email: `reward-${randomBytes(4).toString('hex')}@example.com`,
  skus: ['ebook-idempotency-field-guide'],
  ...overrides,
});

describe('POST /v1/rewards', () => {
  it('answers 401 without a service token or with a wrong one', async () => {
    expect((await grant(newReward(), null)).statusCode).toBe(401);
    expect((await grant(newReward(), 'not-the-token')).statusCode).toBe(401);
  });

  it('answers 400 naming each invalid field', async () => {
    const response = await grant({
      reward_id: 'has spaces',
      kind: 'mission',
      email: 'nope',
      skus: [],
    });
    expect(response.statusCode).toBe(400);
    const { error } = response.json<{ error: string }>();
    expect(error).toContain('reward_id');
    expect(error).toContain('email');
    expect(error).toContain('skus');
  });

  it('fulfils a mission unlock without amounts, once however often it is sent', async () => {
    const reward = newReward();
    const first = await grant(reward);
    expect(first.statusCode).toBe(202);
    expect(first.json()).toMatchObject({
      workflowId: `fulfillment-reward-${reward.reward_id}`,
      duplicate: false,
    });
    await settledFulfillment(stack.temporal, rewardPurchaseKey(reward.reward_id));
    const again = await grant(reward);
    expect(again.json()).toMatchObject({ duplicate: true });

    const rows = await purchaseRows(stack.db, rewardPurchaseKey(reward.reward_id));
    expect(rows.orders).toMatchObject([
      { source: 'reward', amount_total: null, currency: null, payment_intent_id: null },
    ]);
    expect(entitlementStatuses(rows)).toEqual(['pending_claim']);
    expect(rows.jobs).toMatchObject([{ status: 'completed' }]);
    expect(emailKinds(rows)).toEqual(['delivery']);
    expect(rows.emails[0]?.text).not.toContain('€');
  });

  it('activates at once for a signed-in user', async () => {
    const reward = newReward({ user_id: `auth0|${randomBytes(4).toString('hex')}` });
    await grant(reward);
    await settledFulfillment(stack.temporal, rewardPurchaseKey(reward.reward_id));
    expect(
      entitlementStatuses(await purchaseRows(stack.db, rewardPurchaseKey(reward.reward_id))),
    ).toEqual(['active']);
  });
});

describe('DELETE /v1/rewards/:rewardId', () => {
  it('revokes the reward, sends one cancellation and writes the mission audit entry', async () => {
    const reward = newReward();
    await grant(reward);
    await settledFulfillment(stack.temporal, rewardPurchaseKey(reward.reward_id));

    const response = await stack.app.inject({
      method: 'DELETE',
      url: `/v1/rewards/${reward.reward_id}`,
      headers: { authorization: `Bearer ${token}` },
      payload: { reason: 'mission completion was reversed' },
    });
    expect(response.statusCode).toBe(202);
    await stack.temporal.workflow.getHandle(rewardRevocationWorkflowId(reward.reward_id)).result();

    const rows = await purchaseRows(stack.db, rewardPurchaseKey(reward.reward_id));
    expect(entitlementStatuses(rows)).toEqual(['revoked']);
    expect(rows.jobs).toMatchObject([{ status: 'revoked' }]);
    expect(emailKinds(rows)).toEqual(['cancellation', 'delivery']);
    const audit = await stack.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'reason', 'detail'])
      .where('target', '=', reward.reward_id)
      .execute();
    expect(audit).toEqual([
      {
        actor: 'missions',
        action: 'mission.reward_revoked',
        reason: 'mission completion was reversed',
        detail: { missionId: 'mission-42', kind: 'mission' },
      },
    ]);
  });

  it('answers 404 for an unknown reward and 400 without a reason', async () => {
    const headers = { authorization: `Bearer ${token}` };
    expect(
      (
        await stack.app.inject({
          method: 'DELETE',
          url: '/v1/rewards/nope',
          headers,
          payload: { reason: 'because' },
        })
      ).statusCode,
    ).toBe(404);
    expect(
      (await stack.app.inject({ method: 'DELETE', url: '/v1/rewards/nope', headers, payload: {} }))
        .statusCode,
    ).toBe(400);
  });
});
