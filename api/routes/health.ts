import type { Client } from '@temporalio/client';
import type { FastifyPluginAsync } from 'fastify';
import { sql } from 'kysely';
import type { Db } from '../../db/database.ts';

/** `/healthz`: the process is alive. `/readyz`: Postgres and Temporal answer. */
export const registerHealthRoutes: FastifyPluginAsync<{ db: Db; temporal: Client }> = async (
  app,
  { db, temporal },
) => {
  app.get('/healthz', () => ({ status: 'ok' }));
  app.get('/readyz', async (_request, reply) => {
    const [database, temporalServer] = await Promise.allSettled([
      sql`select 1`.execute(db),
      temporal.workflowService.getSystemInfo({}),
    ]);
    const checks = {
      database: database.status === 'fulfilled' ? 'ok' : 'unavailable',
      temporal: temporalServer.status === 'fulfilled' ? 'ok' : 'unavailable',
    };
    const ready = Object.values(checks).every((check) => check === 'ok');
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', checks });
  });
};
