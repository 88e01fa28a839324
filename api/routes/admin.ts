import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type Stripe from 'stripe';
import {
  acknowledgeAlert,
  listAlerts,
  resolveAlert,
  type AlertSinks,
} from '../../support/alerts.ts';
import { recordAudit } from '../../db/queries/audit.ts';
import type { z } from 'zod';
import { listReconciliationRuns } from '../../db/queries/reconciliation-runs.ts';
import { listWebhookEvents } from '../../db/queries/webhook-events.ts';
import { importCatalog } from '../../support/catalog.ts';
import { runPreflight, type PreflightDeps } from '../../support/preflight.ts';
import { OperationError, type Authorship, type OperationsDeps } from '../../support/context.ts';
import { reissueClaimLink } from '../../support/claims.ts';
import { checkEntitlementStorage } from '../../support/storage-check.ts';
import { issueTemporaryLink, revokeTemporaryDownloadLink } from '../../support/download-links.ts';
import { deletePersonalData } from '../../support/dsar.ts';
import { replayWebhookEvent } from '../../support/events.ts';
import {
  grantEntitlement,
  resendLinks,
  restoreAccess,
  revokeAccess,
} from '../../support/entitlements.ts';
import { listAudit } from '../../support/audit.ts';
import { retryJob, searchJobs, showJob } from '../../support/jobs.ts';
import { mergeCustomers } from '../../support/merges.ts';
import { grantProduct, restoreProduct, revokeProduct } from '../../support/product-access.ts';
import { dayWindow, previousDayWindow, runReconciliation } from '../../support/reconciliation.ts';
import { operatorOf, requireOperator, type OperatorToken } from '../operator-auth.ts';
import { badRequest } from '../schemas.ts';
import {
  adminAlertParams,
  adminAlertsQuery,
  adminAuditQuery,
  adminCatalogBody,
  adminCustomerProductParams,
  adminDsarBody,
  adminDownloadLinkBody,
  adminEntitlementParams,
  adminLinkParams,
  adminMergeBody,
  adminProductGrantBody,
  adminProductRestoreBody,
  adminProductRevokeBody,
  adminRevokeBody,
  adminEventParams,
  adminEventsQuery,
  adminGrantBody,
  adminJobsQuery,
  adminReasonBody,
  adminReconciliationBody,
  adminReconciliationQuery,
  adminReference,
  adminReplayBody,
  adminRetryBody,
} from './admin-schemas.ts';

export interface AdminRoutesOptions {
  operations: OperationsDeps;
  tokens: readonly OperatorToken[];
  /** For running reconciliation from the API: Stripe and where its summary alert goes. */
  reconciliation: { stripe: Stripe; sinks: AlertSinks };
  /** GET /admin/preflight: what the pre-launch check compares the Stripe account with. */
  preflight: Omit<PreflightDeps, 'db' | 'storage'>;
}

const STATUS_OF: Record<OperationError['kind'], number> = {
  invalid: 400,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
};

/** Maps a refused operation to its status; anything else is a 500 for the error handler. */
function refused(reply: FastifyReply, error: unknown) {
  if (!(error instanceof OperationError)) throw error;
  return reply.code(STATUS_OF[error.kind]).send({
    error: error.message,
    ...(Array.isArray(error.detail) ? { problems: error.detail as string[] } : {}),
  });
}

/**
 * `/admin/…`: the operator CLI as an API, for operator tokens (support: read and resend;
 * admin: everything). Handlers validate, then call support/* — the same functions the CLI
 * runs — with the token's operator and the body's reason, which they audit.
 */
export const registerAdminRoutes: FastifyPluginAsync<AdminRoutesOptions> = async (
  app,
  { operations, tokens, reconciliation, preflight },
) => {
  const support = { preHandler: requireOperator(tokens, 'support') };
  const admin = { preHandler: requireOperator(tokens, 'admin') };

  /** Parses with `schema` or answers 400; then runs `action`, mapping refusals. */
  const handle =
    <S extends z.ZodType, R>(
      schema: S,
      action: (input: z.output<S>, request: Parameters<typeof operatorOf>[0]) => Promise<R>,
      status = 200,
    ) =>
    async (request: Parameters<typeof operatorOf>[0], reply: FastifyReply) => {
      // Path parameters last: a body field named like one (`ref`) cannot retarget the call.
      const parsed = schema.safeParse({
        ...(request.query as object),
        ...(typeof request.body === 'object' && request.body !== null ? request.body : {}),
        ...(request.params as object),
      });
      if (!parsed.success) return badRequest(reply, parsed.error);
      try {
        return reply.code(status).send(await action(parsed.data, request));
      } catch (error) {
        return refused(reply, error);
      }
    };
  const who = (request: Parameters<typeof operatorOf>[0], reason: string): Authorship => ({
    operator: operatorOf(request),
    reason,
  });

  app.get(
    '/admin/jobs',
    support,
    handle(adminJobsQuery, (q) =>
      searchJobs(operations.db, {
        email: q.email,
        order: q.order,
        paymentIntent: q.payment_intent,
        status: q.status,
        limit: q.limit,
        offset: q.offset,
      }),
    ),
  );
  app.get(
    '/admin/jobs/:ref',
    support,
    handle(adminReference, (p) => showJob(operations, p.ref)),
  );
  app.post(
    '/admin/jobs/:ref/retry',
    admin,
    handle(adminReference.extend(adminRetryBody.shape), (b, request) =>
      retryJob(operations, b.ref, { ...who(request, b.reason), restart: b.restart }),
    ),
  );
  app.post(
    '/admin/entitlements',
    admin,
    handle(
      adminGrantBody,
      (b, request) =>
        grantEntitlement(
          operations,
          {
            email: b.email,
            skus: b.skus,
            userId: b.user_id,
            kind: b.kind,
            missionId: b.mission_id,
            grantId: b.grant_id,
          },
          who(request, b.reason),
        ),
      202,
    ),
  );
  app.post(
    '/admin/entitlements/:ref/resend',
    support,
    handle(
      adminReference.extend(adminReasonBody.shape),
      (b, request) => resendLinks(operations, b.ref, who(request, b.reason)),
      202,
    ),
  );
  app.post(
    '/admin/claims/:ref/reissue',
    support,
    handle(
      adminReference.extend(adminReasonBody.shape),
      (b, request) => reissueClaimLink(operations, b.ref, who(request, b.reason)),
      202,
    ),
  );
  app.post(
    '/admin/entitlements/:id/download-link',
    support,
    handle(
      adminEntitlementParams.extend(adminDownloadLinkBody.shape),
      (b, request) =>
        issueTemporaryLink(
          operations,
          b.id,
          { expiresInHours: b.expires_in_hours },
          who(request, b.reason),
        ),
      201,
    ),
  );
  app.post(
    '/admin/entitlements/:id/storage-check',
    support,
    handle(adminEntitlementParams.extend(adminReasonBody.shape), (b, request) =>
      checkEntitlementStorage(operations, b.id, who(request, b.reason)),
    ),
  );
  app.post(
    '/admin/download-links/:id/revoke',
    support,
    handle(adminLinkParams.extend(adminReasonBody.shape), (b, request) =>
      revokeTemporaryDownloadLink(operations, b.id, who(request, b.reason)),
    ),
  );
  app.post(
    '/admin/entitlements/:ref/revoke',
    admin,
    handle(adminReference.extend(adminRevokeBody.shape), (b, request) =>
      revokeAccess(operations, b.ref, who(request, b.reason), { notifyBuyer: b.notifyBuyer }),
    ),
  );
  app.post(
    '/admin/entitlements/:ref/restore',
    admin,
    handle(adminReference.extend(adminReasonBody.shape), (b, request) =>
      restoreAccess(operations, b.ref, who(request, b.reason)),
    ),
  );
  app.post(
    '/admin/customers/:customer/products/:sku/grant',
    admin,
    handle(
      adminCustomerProductParams.extend(adminProductGrantBody.shape).strict(),
      (b, request) =>
        grantProduct(
          operations,
          { customer: b.customer, sku: b.sku, grantId: b.grant_id },
          who(request, b.reason),
        ),
      202,
    ),
  );
  app.post(
    '/admin/customers/:customer/products/:sku/revoke',
    admin,
    handle(adminCustomerProductParams.extend(adminProductRevokeBody.shape).strict(), (b, request) =>
      revokeProduct(
        operations,
        { customer: b.customer, sku: b.sku, order: b.order },
        who(request, b.reason),
        { notifyBuyer: b.notifyBuyer },
      ),
    ),
  );
  app.post(
    '/admin/customers/:customer/products/:sku/restore',
    admin,
    handle(
      adminCustomerProductParams.extend(adminProductRestoreBody.shape).strict(),
      (b, request) =>
        restoreProduct(
          operations,
          { customer: b.customer, sku: b.sku, order: b.order },
          who(request, b.reason),
        ),
    ),
  );
  app.post(
    '/admin/customers/merge',
    admin,
    handle(adminMergeBody, (b, request) =>
      mergeCustomers(
        operations,
        { from: b.from, to: b.to, verification: b.verification },
        who(request, b.reason),
      ),
    ),
  );
  app.post(
    '/admin/dsar/delete',
    admin,
    handle(adminDsarBody, (b, request) =>
      deletePersonalData(operations, b.email, who(request, b.reason)),
    ),
  );
  app.post(
    '/admin/catalog/import',
    admin,
    handle(adminCatalogBody, (b, request) =>
      importCatalog(operations, b.catalog, { ...who(request, b.reason), dryRun: b.dry_run }),
    ),
  );
  app.get('/admin/preflight', admin, async () =>
    runPreflight({ db: operations.db, storage: operations.storage, ...preflight }),
  );
  app.get(
    '/admin/webhook-events',
    support,
    handle(adminEventsQuery, async (q) => {
      const rows = await listWebhookEvents(operations.db, {
        ...(q.status ? { status: q.status } : {}),
        ...(q.type ? { type: q.type } : {}),
        ...(q.since ? { since: new Date(q.since) } : {}),
        limit: q.limit,
      });
      return {
        items: rows.map((row) => ({
          eventId: row.event_id,
          type: row.type,
          receivedAt: row.received_at,
          result: row.result ?? 'pending',
          outcome: row.outcome,
          jobStatus: row.job_status,
          workflowId: row.workflow_id,
          deliveries: row.deliveries,
          error: row.error,
        })),
      };
    }),
  );
  app.post(
    '/admin/webhook-events/:eventId/replay',
    admin,
    handle(adminEventParams.extend(adminReplayBody.shape), (b, request) =>
      replayWebhookEvent(operations, b.eventId, who(request, b.reason), { dryRun: b.dry_run }),
    ),
  );
  app.get(
    '/admin/reconciliation-runs',
    support,
    handle(adminReconciliationQuery, async (q) => ({
      items: await listReconciliationRuns(operations.db, q.limit),
    })),
  );
  app.post(
    '/admin/reconciliation-runs',
    admin,
    handle(
      adminReconciliationBody,
      async (b, request) => {
        let window;
        try {
          window = b.date ? dayWindow(b.date) : previousDayWindow(new Date());
        } catch (error) {
          throw new OperationError('invalid', (error as Error).message);
        }
        const operator = operatorOf(request);
        const run = await runReconciliation(
          { db: operations.db, temporal: operations.temporal, ...reconciliation },
          { window, heal: b.heal, actor: operator.name, purchaseKeys: b.payment_intents },
        );
        await recordAudit(operations.db, {
          actor: operator.name,
          action: 'reconciliation.run',
          target: run.id,
          reason: b.reason,
          detail: { heal: b.heal, healed: run.healed, role: operator.role },
        });
        return run;
      },
      201,
    ),
  );
  app.get(
    '/admin/alerts',
    support,
    handle(adminAlertsQuery, (q) =>
      listAlerts(operations.db, {
        status: q.status,
        kind: q.kind,
        since: q.since ? new Date(q.since) : undefined,
        before: q.before,
        limit: q.limit,
      }),
    ),
  );
  app.get(
    '/admin/audit',
    support,
    handle(adminAuditQuery, (q) =>
      listAudit(operations.db, {
        action: q.action,
        actor: q.actor,
        since: q.since ? new Date(q.since) : undefined,
        order: q.order,
        before: q.before,
        limit: q.limit,
      }),
    ),
  );
  for (const [path, act] of [
    ['ack', acknowledgeAlert],
    ['resolve', resolveAlert],
  ] as const) {
    app.post(
      `/admin/alerts/:id/${path}`,
      support,
      handle(adminAlertParams.extend(adminReasonBody.shape), (b, request) =>
        act(operations.db, reconciliation.sinks, b.id, who(request, b.reason)),
      ),
    );
  }
};
