import type { DbExecutor } from '../database.ts';
import type { NewReward, Reward } from '../tables/rewards.ts';

/** Records a reward once; false when its `reward_id` was recorded before (a retry). */
export async function insertReward(db: DbExecutor, reward: NewReward): Promise<boolean> {
  const inserted = await db
    .insertInto('rewards')
    .values(reward)
    .onConflict((oc) => oc.column('reward_id').doNothing())
    .returning('reward_id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Whether a reward was recorded: its id, or undefined. */
export async function findReward(
  db: DbExecutor,
  rewardId: string,
): Promise<Pick<Reward, 'reward_id'> | undefined> {
  return db
    .selectFrom('rewards')
    .select('reward_id')
    .where('reward_id', '=', rewardId)
    .executeTakeFirst();
}
