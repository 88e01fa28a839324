import type { FastifyPluginAsync } from 'fastify';
import type { Db } from '../../db/database.ts';
import { z } from 'zod';
import {
  findRecordedEmailHtml,
  listRecordedEmails,
  listRecordedEmailsTo,
} from '../../db/queries/dev-outbox.ts';
import { escapeHtml } from '../../drivers/email/templates.ts';
import { badRequest } from '../schemas.ts';

/** A development page listing what the outbox email driver recorded, newest first. */
export const registerDevOutboxRoutes: FastifyPluginAsync<{ db: Db }> = async (app, { db }) => {
  app.get('/dev/outbox', async (_request, reply) => {
    const messages = await listRecordedEmails(db);
    const rows = messages
      .map(
        (m) =>
          `<tr><td>${escapeHtml(m.created_at.toISOString())}</td><td>${escapeHtml(m.kind)}</td><td>${escapeHtml(m.recipient)}</td><td><a href="/dev/outbox/${escapeHtml(m.id)}">${escapeHtml(m.subject)}</a></td><td>${escapeHtml(m.status)}</td></tr>`,
      )
      .join('');
    return reply
      .type('text/html; charset=utf-8')
      .send(
        `<!doctype html><meta charset="utf-8"><title>Outbox</title><h1>Outbox (${messages.length})</h1><table border="1" cellpadding="4"><tr><th>created</th><th>kind</th><th>to</th><th>subject</th><th>status</th></tr>${rows}</table>`,
      );
  });

  /**
   * `GET /dev/outbox.json?to=<email>&since=<ISO>`: what was recorded for one recipient, with
   * the text body (`npm run smoke` reads its receipt and claim link here).
   */
  app.get('/dev/outbox.json', async (request, reply) => {
    const query = outboxQuery.safeParse(request.query);
    if (!query.success) return badRequest(reply, query.error);
    const since = query.data.since ?? new Date(Date.now() - 3_600_000);
    return { messages: await listRecordedEmailsTo(db, query.data.to, since) };
  });

  app.get<{ Params: { id: string } }>('/dev/outbox/:id', async (request, reply) => {
    if (!/^[0-9a-f-]{36}$/.test(request.params.id))
      return reply.code(404).send({ error: 'not found' });
    const html = await findRecordedEmailHtml(db, request.params.id);
    if (html === undefined) return reply.code(404).send({ error: 'not found' });
    return reply.type('text/html; charset=utf-8').send(html);
  });
};

const outboxQuery = z.object({
  to: z.email().max(320),
  since: z.coerce.date().optional(),
});
