import { hostname } from 'node:os';
import type { Db } from '../db/database.ts';
import { claimPeriodicTurn, finishPeriodicTurn } from '../db/queries/periodic-jobs.ts';

export interface PeriodicJobDefinition {
  /** The job's row in `periodic_jobs`: one turn per interval across every process. */
  name: string;
  everySeconds: number;
  run(): Promise<unknown>;
}

export interface PeriodicJobs {
  /** Stops asking for turns and waits for a running turn to end. */
  stop(): Promise<void>;
}

type Log = (level: 'info' | 'warn', msg: string, fields: Record<string, unknown>) => void;

const defaultLog: Log = (level, msg, fields) =>
  console[level === 'warn' ? 'warn' : 'log'](JSON.stringify({ level, msg, ...fields }));

/** This process's name in `periodic_jobs.holder`: host and pid. */
export const processHolder = (): string => `${hostname()}:${process.pid}`;

/**
 * Runs each job once per interval across the fleet, without Temporal actions: every process
 * asks PostgreSQL for the job's turn now and then (a fraction of the interval, jittered so
 * replicas spread out) and only the one that moves the job's due time forward runs it. A turn
 * that fails is logged and recorded; the next turn comes an interval later as usual.
 */
export function startPeriodicJobs(
  db: Db,
  jobs: readonly PeriodicJobDefinition[],
  { holder = processHolder(), log = defaultLog }: { holder?: string; log?: Log } = {},
): PeriodicJobs {
  let stopped = false;
  const timers = new Set<NodeJS.Timeout>();
  const running = new Set<Promise<void>>();

  const turn = async (job: PeriodicJobDefinition): Promise<void> => {
    let claimed = false;
    try {
      claimed = await claimPeriodicTurn(db, {
        name: job.name,
        holder,
        intervalSeconds: job.everySeconds,
      });
      if (!claimed) return;
      await job.run();
      await finishPeriodicTurn(db, { name: job.name, holder, error: null });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log('warn', 'periodic job failed', { job: job.name, error: message });
      if (claimed) {
        await finishPeriodicTurn(db, { name: job.name, holder, error: message }).catch(
          () => undefined,
        );
      }
    }
  };

  const schedule = (job: PeriodicJobDefinition): void => {
    if (stopped) return;
    // Ask four times an interval (at most every 30 s), ±25 %: a turn starts at most a quarter
    // interval late, and replicas do not ask in lockstep.
    const baseMs = Math.min(job.everySeconds * 250, 30_000);
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        const run = turn(job).finally(() => {
          running.delete(run);
          schedule(job);
        });
        running.add(run);
      },
      baseMs * (0.75 + Math.random() * 0.5),
    );
    timer.unref();
    timers.add(timer);
  };

  for (const job of jobs) schedule(job);
  return {
    async stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.allSettled([...running]);
    },
  };
}
