import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync } from 'fastify';
import type { Db } from '../../db/database.ts';
import { pingDatabase } from '../../db/queries/health.ts';
import type { Drain } from '../drain.ts';
import { withinTimeout } from '../../temporal/client.ts';

/**
 * `/healthz`: the process is alive. `/readyz`: Postgres and Temporal answer and the api is not
 * shutting down (then 503 with the reason, so the load balancer stops sending traffic).
 */
export const registerHealthRoutes: FastifyPluginAsync<{
  db: Db;
  temporal: Client;
  drain?: Drain | undefined;
}> = async (app, { db, temporal, drain }) => {
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    // A probe must answer quickly even when a dependency hangs: two seconds each.
    const [database, temporalServer] = await Promise.allSettled([
      withinTimeout(pingDatabase(db), 2_000, 'Postgres'),
      withinTimeout(temporal.workflowService.getSystemInfo({}), 2_000, 'Temporal'),
    ]);
    const checks = {
      database: database.status === 'fulfilled' ? 'ok' : 'unavailable',
      temporal: temporalServer.status === 'fulfilled' ? 'ok' : 'unavailable',
    };
    const reason = drain?.reason ?? null;
    const ready = reason === null && Object.values(checks).every((check) => check === 'ok');
    return reply
      .code(ready ? 200 : 503)
      .send({ status: ready ? 'ready' : 'not ready', ...(reason ? { reason } : {}), checks });
  });
};
