import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { SHELF_VIEWS } from '../db/queries/shelf.ts';
import { REWARD_KINDS } from '../db/tables/rewards.ts';
import { ENTITLEMENT_STATUSES } from '../workflows/contracts.ts';

/*
 * The api's request and response shapes, as zod schemas: the routes validate with them and
 * api/openapi.ts turns them into the OpenAPI document served at /docs.
 */

export const errorResponse = z.object({ error: z.string() });

export const entitlementParams = z.object({ id: z.uuid() });
export const shelfQuery = z.object({
  view: z.enum(SHELF_VIEWS).default('all'),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  offset: z.coerce.number().int().min(0).default(0),
});
export const shelfItem = z.object({
  id: z.uuid(),
  sku: z.string(),
  title: z.string(),
  formats: z.array(z.enum(['pdf', 'epub'])),
  status: z.enum(ENTITLEMENT_STATUSES),
  downloadable: z.boolean(),
  archived: z.boolean(),
  purchasedAt: z.iso.datetime(),
  lastDownloadedAt: z.iso.datetime().nullable(),
});
export const shelfResponse = z.object({
  items: z.array(shelfItem),
  hasMore: z.boolean(),
  view: z.enum(SHELF_VIEWS),
  limit: z.number().int(),
  offset: z.number().int(),
});
export const archiveResponse = z.object({ id: z.uuid(), archived: z.boolean() });
export const downloadBody = z.object({ format: z.enum(['pdf', 'epub']) });
export const downloadUrlResponse = z.object({ url: z.url(), expiresInSeconds: z.number().int() });
export const workflowAccepted = z.object({ workflowId: z.string() });
export const claimBody = z.object({ token: z.string().min(1).max(200).optional() }).strict();
export const claimResponse = z.object({ claimed: z.number().int() });

export const rewardGrantSchema = z.object({
  reward_id: z.string().regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, _ and - only (1–100)'),
  kind: z.enum(REWARD_KINDS),
  mission_id: z.string().min(1).max(200).optional(),
  email: z.email(),
  user_id: z.string().min(1).max(200).optional(),
  skus: z.array(z.string().min(1).max(200)).min(1).max(20),
});
export const rewardGrantResponse = z.object({
  rewardId: z.string(),
  workflowId: z.string(),
  duplicate: z.boolean(),
});
export const rewardRevocationSchema = z.object({ reason: z.string().min(3).max(500) });
export const rewardRevocationResponse = z.object({ rewardId: z.string(), workflowId: z.string() });
export const rewardParams = z.object({ rewardId: z.string() });

export const stripeWebhookResponse = z.object({
  received: z.literal(true),
  /** A redelivery of an event recorded before. */
  duplicate: z.boolean(),
  eventId: z.string(),
  /** The inbox row's result as the ack leaves it: `pending` until its workflow is started. */
  result: z.enum(['processed', 'ignored', 'duplicate', 'failed', 'pending']),
  /** The workflow the event is routed to (started right after the ack). */
  workflowId: z.string().nullable(),
});
export const resendWebhookResponse = z.object({ received: z.literal(true) });
export const healthResponse = z.object({ status: z.literal('ok') });
export const readinessResponse = z.object({
  status: z.enum(['ready', 'not ready']),
  /** Set while the api shuts down: it finishes what is in flight but takes nothing new. */
  reason: z.string().optional(),
  checks: z.object({
    database: z.enum(['ok', 'unavailable']),
    temporal: z.enum(['ok', 'unavailable']),
  }),
});
export const tokenParams = z.object({ token: z.string() });

/** 400 naming every invalid field, for any request schema. */
export function badRequest(reply: FastifyReply, error: z.ZodError) {
  const fields = error.issues.map(
    (issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`,
  );
  return reply.code(400).send({ error: `invalid request: ${fields.join('; ')}` });
}
