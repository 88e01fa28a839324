import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync } from 'fastify';
import type { Db } from '../../db/database.ts';
import { pingDatabase } from '../../db/queries/health.ts';
import type { Drain } from '../drain.ts';
import { withinTimeout } from '../../temporal/client.ts';
import type { TemporalHealth } from '../../temporal/connection-check.ts';

/**
 * `/healthz`: the process is alive. `/readyz`: can this replica take traffic? 503 while it
 * drains or while Postgres does not answer (nothing could be recorded). Temporal is not a
 * reason to turn traffic away — webhooks are recorded and acknowledged without it and the relay
 * dispatches them later — so Temporal down (or refusing the settings, after this replica once
 * worked: a revoked key) answers 200 with `status: "degraded"` and says what is degraded. A
 * replica whose settings Temporal refuses from the start exits instead (scripts/api.ts).
 */
export const registerHealthRoutes: FastifyPluginAsync<{
  db: Db;
  temporal: Client;
  /** The process's Temporal monitor (scripts/api.ts); without it each probe asks Temporal. */
  temporalHealth?: (() => TemporalHealth) | undefined;
  drain?: Drain | undefined;
}> = async (app, { db, temporal, temporalHealth, drain }) => {
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    // A probe must answer quickly even when a dependency hangs: two seconds each.
    const [database, temporalServer] = await Promise.allSettled([
      withinTimeout(pingDatabase(db), 2_000, 'Postgres'),
      temporalHealth
        ? Promise.resolve(temporalHealth())
        : withinTimeout(
            // The deadline also ends the SDK's own retries of the call, not only our wait.
            temporal.connection.withDeadline(Date.now() + 2_000, () =>
              temporal.workflowService.getSystemInfo({}),
            ),
            2_000,
            'Temporal',
          ),
    ]);
    const temporalState: TemporalHealth['state'] | 'ok' =
      temporalServer.status === 'rejected'
        ? 'unavailable'
        : temporalHealth
          ? (temporalServer.value as TemporalHealth).state
          : 'ok';
    const checks = {
      database: database.status === 'fulfilled' ? 'ok' : 'unavailable',
      temporal: temporalState === 'connected' ? 'ok' : temporalState,
    };
    const reason = drain?.reason ?? null;
    const ready = reason === null && checks.database === 'ok';
    const degraded =
      checks.temporal === 'ok'
        ? []
        : [
            checks.temporal === 'refused'
              ? 'temporal: the server refuses this replica’s settings (see its log); webhooks are still recorded'
              : 'temporal: webhooks are recorded and acknowledged; their workflows start once Temporal answers',
          ];
    return reply.code(ready ? 200 : 503).send({
      status: !ready ? 'not ready' : degraded.length > 0 ? 'degraded' : 'ready',
      ...(reason ? { reason } : {}),
      checks,
      ...(degraded.length > 0 ? { degraded } : {}),
      ...(temporalHealth && temporalServer.status === 'fulfilled'
        ? { temporalSince: (temporalServer.value as TemporalHealth).since }
        : {}),
    });
  });
};
