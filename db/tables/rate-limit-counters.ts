import type { Generated, Selectable } from 'kysely';

/** A fixed-window request counter shared by every api replica. */
export interface RateLimitCountersTable {
  /** The limiter's namespace and the caller, e.g. `claims:203.0.113.7`. */
  key: string;
  window_started_at: Generated<Date>;
  hits: number;
}

export type RateLimitCounter = Selectable<RateLimitCountersTable>;
