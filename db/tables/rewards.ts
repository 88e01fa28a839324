import type { Generated, Insertable, Selectable } from 'kysely';

export const REWARD_KINDS = ['mission', 'coupon'] as const;
export type RewardKind = (typeof REWARD_KINDS)[number];

/** A mission or coupon unlock: fulfilled like a purchase, without amounts. */
export interface RewardsTable {
  reward_id: string;
  kind: RewardKind;
  mission_id: string | null;
  email: string;
  user_id: string | null;
  skus: string[];
  /** The service that granted it (from its token's name). */
  granted_by: string;
  created_at: Generated<Date>;
  revoked_at: Date | null;
  revoke_reason: string | null;
}

export type Reward = Selectable<RewardsTable>;
export type NewReward = Insertable<RewardsTable>;
