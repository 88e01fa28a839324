import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync } from 'fastify';
import type { Db } from '../../db/database.ts';
import { findReward, insertReward } from '../../db/queries/rewards.ts';
import { startFulfillment, startRewardRevocation } from '../../temporal/workflows.ts';
import { fulfillmentWorkflowId, rewardPurchaseKey } from '../../workflows/contracts.ts';
import { badRequest, rewardGrantSchema, rewardRevocationSchema } from '../schemas.ts';
import { authenticateService, type ServiceToken } from '../service-tokens.ts';

/**
 * Rewards: the missions service grants (and takes back) products without a payment. Each
 * call needs a service token; the reward is recorded before its workflow starts, so a retry
 * with the same `reward_id` is safe and changes nothing.
 */
export const registerRewardRoutes: FastifyPluginAsync<{
  db: Db;
  temporal: Client;
  tokens: readonly ServiceToken[];
}> = async (app, { db, temporal, tokens }) => {
  app.post('/v1/rewards', async (request, reply) => {
    const caller = authenticateService(request, tokens);
    if (!caller) return reply.code(401).send({ error: 'a valid service token is required' });
    const parsed = rewardGrantSchema.safeParse(request.body);
    if (!parsed.success) return badRequest(reply, parsed.error);
    const grant = parsed.data;

    const inserted = await insertReward(db, {
      reward_id: grant.reward_id,
      kind: grant.kind,
      mission_id: grant.mission_id ?? null,
      email: grant.email.toLowerCase(),
      user_id: grant.user_id ?? null,
      skus: grant.skus,
      granted_by: caller,
      revoked_at: null,
      revoke_reason: null,
    });
    const purchaseKey = rewardPurchaseKey(grant.reward_id);
    const workflowId = fulfillmentWorkflowId(purchaseKey);
    try {
      await startFulfillment(temporal, {
        source: 'reward',
        purchaseKey,
        paymentIntentId: null,
        rewardId: grant.reward_id,
      });
    } catch (error) {
      request.log.warn(
        { err: error, rewardId: grant.reward_id },
        'reward recorded; Temporal unavailable',
      );
      return reply
        .code(503)
        .send({ error: 'recorded, but the fulfillment could not start; retry the same request' });
    }
    return reply.code(202).send({ rewardId: grant.reward_id, workflowId, duplicate: !inserted });
  });

  app.delete<{ Params: { rewardId: string } }>('/v1/rewards/:rewardId', async (request, reply) => {
    const caller = authenticateService(request, tokens);
    if (!caller) return reply.code(401).send({ error: 'a valid service token is required' });
    const parsed = rewardRevocationSchema.safeParse(request.body ?? {});
    if (!parsed.success) return badRequest(reply, parsed.error);
    const reward = await findReward(db, request.params.rewardId);
    if (!reward) return reply.code(404).send({ error: 'no such reward' });
    const workflowId = await startRewardRevocation(temporal, {
      rewardId: reward.reward_id,
      reason: parsed.data.reason,
      actor: caller,
    });
    return reply.code(202).send({ rewardId: reward.reward_id, workflowId });
  });
};
