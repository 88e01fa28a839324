import { z } from 'zod';
import { AUDIT_ACTIONS } from '../../db/audit-actions.ts';
import { RECONCILIATION_CLASSES } from '../../db/tables/reconciliation-runs.ts';
import { REWARD_KINDS } from '../../db/tables/rewards.ts';
import { WEBHOOK_OUTCOMES } from '../../db/tables/webhook-events.ts';
import { catalogFileSchema } from '../../support/catalog.ts';
import { MIN_VERIFICATION_POINTS, VERIFICATION_KINDS } from '../../support/merges.ts';
import { ENTITLEMENT_STATUSES, FULFILLMENT_STATUSES } from '../../workflows/contracts.ts';
import type { Operation } from '../operation.ts';
import { errorResponse } from '../schemas.ts';

/*
 * The admin API's request and response shapes (api/schemas.ts style): the admin routes
 * validate with them and ADMIN_OPERATIONS puts them into the document at /docs.
 */

/** Why an operator acts: required on every mutation and recorded in audit_log. */
// The pattern states the trimmed minimum in the document (JSON Schema cannot trim): three
// characters from the first to the last that is not whitespace.
const reason = z
  .string()
  .regex(/\S[\s\S]+\S/, 'say why (3+ characters)')
  .trim()
  .min(3, 'say why (3+ characters)')
  .max(500);
const timestamp = z.iso.datetime();

export const adminReference = z.object({
  ref: z
    .string()
    .min(1)
    .max(200)
    .describe('a job, order or entitlement id, a payment intent, checkout session or purchase key'),
});
export const adminJobsQuery = z.object({
  email: z.string().max(320).optional(),
  order: z.string().max(200).optional(),
  payment_intent: z.string().max(200).optional(),
  status: z.enum(FULFILLMENT_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
export const adminJobSummary = z.object({
  jobId: z.uuid(),
  workflowId: z.string(),
  status: z.enum(FULFILLMENT_STATUSES),
  orderId: z.uuid(),
  purchaseKey: z.string(),
  paymentIntentId: z.string().nullable(),
  source: z.string(),
  email: z.string(),
  amountTotal: z.number().int().nullable(),
  currency: z.string().nullable(),
  lastError: z.string().nullable(),
  createdAt: timestamp,
  updatedAt: timestamp,
});
export const adminJobsResponse = z.object({
  items: z.array(adminJobSummary),
  hasMore: z.boolean(),
  limit: z.number().int(),
  offset: z.number().int(),
});
export const adminTimelineResponse = z.object({
  orderId: z.uuid(),
  purchaseKey: z.string(),
  paymentIntentId: z.string().nullable(),
  email: z.string(),
  customerStatus: z.string(),
  jobId: z.uuid().nullable(),
  workflowId: z.string(),
  status: z.enum(FULFILLMENT_STATUSES).nullable(),
  lastError: z.string().nullable(),
  entitlements: z.array(
    z.object({
      id: z.uuid(),
      sku: z.string(),
      title: z.string(),
      status: z.enum(ENTITLEMENT_STATUSES),
    }),
  ),
  temporalUrl: z.url(),
  timeline: z.array(
    z.object({
      at: timestamp,
      source: z.enum(['webhook', 'job', 'email', 'download', 'entitlement', 'claim', 'audit']),
      event: z.string(),
      detail: z.record(z.string(), z.unknown()),
    }),
  ),
});
export const adminRetryBody = z.object({ reason, restart: z.boolean().default(false) });
export const adminRetryResponse = z.object({
  workflowId: z.string(),
  jobStatus: z.enum(FULFILLMENT_STATUSES).nullable(),
  workflowStatusBefore: z.string(),
  action: z.enum(['started', 'restarted', 'none']),
  message: z.string(),
});
export const adminReasonBody = z.object({ reason });
export const adminRevokeBody = adminReasonBody.extend({
  /** false: no cancellation email (e.g. the purchase moves to the buyer's other account). */
  notifyBuyer: z.boolean().default(true),
});
export const adminResendResponse = z.object({
  orderId: z.uuid(),
  recipient: z.string(),
  workflowId: z.string(),
  sequence: z.number().int(),
});
export const adminGrantBody = z.object({
  email: z.email(),
  skus: z.array(z.string().min(1).max(200)).min(1).max(20),
  user_id: z.string().min(1).max(200).optional(),
  kind: z.enum(REWARD_KINDS).default('coupon'),
  mission_id: z.string().min(1).max(200).optional(),
  grant_id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, _ and - only (1–100)')
    .optional(),
  reason,
});
export const adminGrantResponse = z.object({
  grantId: z.string(),
  purchaseKey: z.string(),
  workflowId: z.string(),
  duplicate: z.boolean(),
});
export const adminAccessResponse = z.object({
  orderId: z.uuid(),
  purchaseKey: z.string(),
  entitlementIds: z.array(z.uuid()),
  previous: z.array(z.enum(ENTITLEMENT_STATUSES)),
  status: z.enum(ENTITLEMENT_STATUSES),
  remindersStopped: z.boolean().optional(),
  cancellationWorkflowId: z.string().nullable().optional(),
});
export const adminClaimLinkResponse = z.object({
  orderId: z.uuid(),
  recipient: z.string(),
  workflowId: z.string(),
  sequence: z.number().int(),
  expiredLinks: z.number().int(),
});
export const adminDownloadLinkBody = z.object({
  expires_in_hours: z
    .number()
    .int()
    .min(1)
    .max(168, 'at most 168 hours (7 days)')
    .default(24)
    .describe('how long the link works: 24 h unless said, 7 days at most'),
  reason,
});
export const adminDownloadLinkResponse = z.object({
  linkId: z.uuid(),
  entitlementId: z.uuid(),
  expiresAt: timestamp,
  urls: z.array(z.object({ format: z.enum(['pdf', 'epub']), url: z.string() })),
});
export const adminLinkParams = z.object({ id: z.string().min(1).max(100) });
export const adminEntitlementParams = z.object({ id: z.string().min(1).max(100) });
export const adminLinkRevokeResponse = z.object({
  linkId: z.uuid(),
  entitlementId: z.uuid(),
  revokedAt: timestamp,
});
export const adminStorageCheckResponse = z.object({
  entitlementId: z.uuid(),
  status: z.enum(ENTITLEMENT_STATUSES),
  files: z.array(
    z.object({
      format: z.enum(['pdf', 'epub']),
      key: z.string(),
      exists: z.boolean(),
      download: z.object({
        status: z.number().int().nullable(),
        bytes: z.number().int().nullable(),
        error: z.string().nullable(),
      }),
    }),
  ),
});
export const adminDsarBody = z.object({ email: z.email(), reason });
export const adminDsarResponse = z.object({
  subject: z.string(),
  customers: z.number().int(),
  steps: z.array(
    z.object({
      step: z.enum(['revoke_access', 'stop_reminders', 'erase']),
      outcome: z.enum(['done', 'failed']),
      detail: z.string(),
    }),
  ),
  tables: z.array(
    z.object({
      table: z.string(),
      deleted: z.number().int(),
      redacted: z.number().int(),
      kept: z.number().int(),
      why: z.string(),
    }),
  ),
});
export const adminCustomerProductParams = z.object({
  customer: z.string().trim().min(1).max(320).describe('a customer id or email'),
  sku: z.string().trim().min(1).max(200).describe('the product’s SKU'),
});
export const adminProductRevokeBody = z.strictObject({
  reason,
  /** false: no cancellation email. */
  notifyBuyer: z.boolean().default(true),
  /** Only this order’s entitlement, when the customer bought the SKU more than once. */
  order: z.string().min(1).max(200).optional(),
});
export const adminProductRestoreBody = z.strictObject({
  reason,
  order: z.string().min(1).max(200).optional(),
});
export const adminProductGrantBody = z.strictObject({
  reason,
  grant_id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, 'letters, digits, _ and - only (1–100)')
    .optional(),
});
export const adminProductAccessResponse = z.object({
  customerId: z.uuid(),
  sku: z.string(),
  entitlements: z.array(
    z.object({
      entitlementId: z.uuid(),
      orderId: z.uuid(),
      purchaseKey: z.string(),
      sku: z.string(),
      previous: z.enum(ENTITLEMENT_STATUSES),
      status: z.enum(ENTITLEMENT_STATUSES),
      emailSequence: z.number().int().nullable(),
      changed: z.boolean(),
      orderRevoked: z.boolean(),
      cancellationWorkflowId: z.string().nullable().optional(),
      remindersStopped: z.boolean().optional(),
    }),
  ),
});
export const adminProductGrantResponse = adminGrantResponse.extend({
  customerId: z.uuid(),
  sku: z.string(),
});
export const adminMergeBody = z.strictObject({
  from: z.string().trim().min(1).max(320).describe('whose purchases move: a customer id or email'),
  to: z
    .string()
    .trim()
    .min(1)
    .max(320)
    .describe('where they go: a customer id, or an email (a guest profile is created when new)'),
  verification: z
    .array(
      z.strictObject({
        kind: z.enum(VERIFICATION_KINDS),
        value: z.string().trim().min(1).max(200),
      }),
    )
    .min(
      MIN_VERIFICATION_POINTS,
      `at least ${MIN_VERIFICATION_POINTS} verification data points are required`,
    )
    .max(10),
  reason,
});
export const adminMergeResponse = z.object({
  mergeId: z.uuid(),
  fromCustomerId: z.uuid(),
  toCustomerId: z.uuid(),
  toCreated: z.boolean(),
  toClaimed: z.boolean(),
  orders: z.array(z.object({ orderId: z.uuid(), purchaseKey: z.string() })),
  entitlementsMoved: z.number().int(),
  verification: z.array(
    z.object({ kind: z.string(), value: z.string(), check: z.enum(['matched', 'attested']) }),
  ),
  remindersStopped: z.number().int(),
});
export const adminCatalogBody = z.object({
  catalog: catalogFileSchema,
  dry_run: z.boolean().default(false),
  reason,
});
export const adminCatalogResponse = z.object({
  dryRun: z.boolean(),
  products: z.array(
    z.object({
      sku: z.string(),
      version: z.string(),
      formats: z.string(),
      stripe_price_id: z.string().nullable(),
      change: z.enum(['created', 'updated', 'unchanged']),
    }),
  ),
});
export const adminProblemsResponse = errorResponse.extend({
  problems: z.array(z.string()).optional(),
});
export const adminEventsQuery = z.object({
  status: z
    .enum(WEBHOOK_OUTCOMES)
    .optional()
    .describe(
      'an outcome; `failed` selects the gateway’s failures and purchases that ended needs_attention',
    ),
  type: z.string().max(100).optional(),
  since: z.iso.datetime().optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export const adminEventsResponse = z.object({
  items: z.array(
    z.object({
      eventId: z.string(),
      type: z.string(),
      receivedAt: timestamp,
      result: z.string(),
      /** What became of it: the purchase's outcome where it started a fulfillment. */
      outcome: z.enum(WEBHOOK_OUTCOMES),
      jobStatus: z.enum(FULFILLMENT_STATUSES).nullable(),
      workflowId: z.string().nullable(),
      deliveries: z.number().int(),
      error: z.string().nullable(),
    }),
  ),
});
export const adminEventParams = z.object({ eventId: z.string().min(1).max(200) });
export const adminReplayBody = z.object({ reason, dry_run: z.boolean().default(false) });
export const adminReplayResponse = z.object({
  eventId: z.string(),
  type: z.string(),
  workflowId: z.string().nullable(),
  workflowStatus: z.string(),
  change: z.string(),
});

export const adminReconciliationQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export const adminReconciliationRun = z.object({
  id: z.uuid(),
  window_start: timestamp,
  window_end: timestamp,
  actor: z.string(),
  heal: z.boolean(),
  payments_checked: z.number().int(),
  orders_checked: z.number().int(),
  counts: z.record(z.enum(RECONCILIATION_CLASSES), z.number().int()),
  findings: z.array(
    z.object({
      class: z.enum(RECONCILIATION_CLASSES),
      purchaseKey: z.string(),
      orderId: z.string().nullable(),
      detail: z.string(),
      action: z.string(),
    }),
  ),
  healed: z.number().int(),
  started_at: timestamp,
  finished_at: timestamp,
});
export const adminReconciliationRunsResponse = z.object({ items: z.array(adminReconciliationRun) });
export const adminReconciliationBody = z.object({
  /** The UTC day to reconcile; default yesterday. */
  date: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD')
    .optional(),
  heal: z.boolean().default(false),
  payment_intents: z.array(z.string().min(1).max(200)).max(100).optional(),
  reason,
});

const alertId = z.string().regex(/^\d{1,18}$/, 'an alert id (digits)');
export const adminAlertsQuery = z.object({
  status: z.enum(['open', 'acknowledged', 'resolved']).optional(),
  kind: z.string().max(100).optional(),
  since: z.iso.datetime().optional(),
  before: alertId.optional().describe('the previous page’s `next`'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export const adminAlertParams = z.object({ id: alertId });
export const adminAlert = z.object({
  id: z.string(),
  alert_key: z.string(),
  kind: z.string(),
  severity: z.enum(['warning', 'critical']),
  summary: z.string(),
  detail: z.unknown(),
  job_id: z.uuid().nullable(),
  created_at: timestamp,
  status: z.enum(['open', 'acknowledged', 'resolved']),
  acknowledged_at: timestamp.nullable(),
  acknowledged_by: z.string().nullable(),
  resolved_at: timestamp.nullable(),
  resolved_by: z.string().nullable(),
  tracker_issue_url: z.string().nullable(),
  deliveries: z.array(
    z.object({
      sink: z.string(),
      event: z.enum(['trigger', 'acknowledge', 'resolve']),
      attempts: z.number().int(),
      deliveredAt: timestamp.nullable(),
      nextAttemptAt: timestamp,
      lastError: z.string().nullable(),
    }),
  ),
  deliveredAt: timestamp
    .nullable()
    .describe('when the last sink took it; null while any is pending'),
});
export const adminAlertsResponse = z.object({
  items: z.array(adminAlert),
  next: alertId.nullable(),
});
export const adminAuditQuery = z.object({
  action: z.enum(AUDIT_ACTIONS).optional(),
  actor: z.string().max(200).optional(),
  since: z.iso.datetime().optional(),
  order: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe('an order id, payment intent or purchase key'),
  before: z
    .string()
    .regex(/^\d{1,18}$/, 'an audit row id (digits)')
    .optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
export const adminAuditResponse = z.object({
  items: z.array(
    z.object({
      id: z.string(),
      created_at: timestamp,
      actor: z.string(),
      action: z.string(),
      target: z.string().nullable(),
      reason: z.string().nullable(),
      detail: z.unknown(),
      request_id: z.string().nullable(),
    }),
  ),
  next: z.string().nullable(),
});
export const adminAlertTransitionResponse = z.object({ alert: adminAlert, changed: z.boolean() });

const bad = ['invalid request, naming each field', errorResponse] as [string, z.ZodType];
const unauthorized = ['no valid operator token', errorResponse] as [string, z.ZodType];
const forbidden = ['the token’s role may not do this (admin only)', errorResponse] as [
  string,
  z.ZodType,
];
const notFound = ['nothing matches the reference', errorResponse] as [string, z.ZodType];
const conflict = ['the current state forbids it (the message says why)', errorResponse] as [
  string,
  z.ZodType,
];

/** `GET /admin/preflight`: the rows `npm run ops -- preflight` prints. */
export const adminPreflightResponse = z.object({
  ok: z.boolean(),
  rows: z.array(
    z.object({
      check: z.enum(['webhook endpoint', 'webhook event', 'signing secret', 'price', 'asset']),
      subject: z.string(),
      result: z.enum(['ok', 'FAIL']),
      detail: z.string(),
    }),
  ),
  failures: z.array(z.string()),
});

const tooMany = [
  'too many of these lately (the message says when to try again)',
  errorResponse,
] as [string, z.ZodType];

const operatorOnly = (operation: Omit<Operation, 'security'>): Operation => ({
  ...operation,
  security: 'operator',
});

/**
 * An operator's POST: besides its own `responses` (its answer, and 404/409 where it has them),
 * every one answers 400 for an invalid request and 401 without a token, and an admin-only one
 * 403 for a support token. `responses` may replace the shared 400.
 */
const operatorPost = (
  role: 'admin' | 'support',
  operation: Pick<Operation, 'path' | 'summary' | 'params' | 'body'>,
  responses: Operation['responses'],
): Operation => {
  const refusals: Operation['responses'] = { 400: bad, 401: unauthorized };
  if (role === 'admin') refusals[403] = forbidden;
  return operatorOnly({ method: 'post', ...operation, responses: { ...refusals, ...responses } });
};

/** The admin routes for /docs (see api/openapi.ts). */
export const ADMIN_OPERATIONS: Operation[] = [
  operatorOnly({
    method: 'get',
    path: '/admin/jobs',
    summary: 'Search fulfillment jobs (support)',
    query: adminJobsQuery,
    responses: { 200: ['one page, newest first', adminJobsResponse], 400: bad, 401: unauthorized },
  }),
  operatorOnly({
    method: 'get',
    path: '/admin/jobs/{ref}',
    summary: 'One purchase’s timeline and Temporal UI link (support)',
    params: adminReference,
    responses: { 200: ['the timeline', adminTimelineResponse], 401: unauthorized, 404: notFound },
  }),
  operatorPost(
    'admin',
    {
      path: '/admin/jobs/{ref}/retry',
      summary: 'Re-drive a failed or stuck job through its workflow (admin)',
      params: adminReference,
      body: adminRetryBody,
    },
    { 200: ['what was found and done', adminRetryResponse], 404: notFound, 409: conflict },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/entitlements',
      summary: 'Grant products without a payment: a comp or a mission-unlock fix (admin)',
      body: adminGrantBody,
    },
    { 202: ['recorded; fulfillment started', adminGrantResponse] },
  ),
  operatorPost(
    'support',
    {
      path: '/admin/entitlements/{ref}/resend',
      summary: 'Email fresh download links, without the buyer’s hourly limit (support)',
      params: adminReference,
      body: adminReasonBody,
    },
    { 202: ['resend started', adminResendResponse], 404: notFound, 409: conflict },
  ),
  operatorPost(
    'support',
    {
      path: '/admin/claims/{ref}/reissue',
      summary:
        'Email a guest a fresh claim link; older claim links stop working; 3 an hour per buyer (support)',
      params: adminReference,
      body: adminReasonBody,
    },
    {
      202: ['the claim-link email started', adminClaimLinkResponse],
      404: notFound,
      409: conflict,
      429: tooMany,
    },
  ),
  operatorPost(
    'support',
    {
      path: '/admin/entitlements/{id}/download-link',
      summary:
        'Issue a temporary download link for one entitlement (24 h unless said, 7 days at most), to pass on (support)',
      params: adminEntitlementParams,
      body: adminDownloadLinkBody,
    },
    { 201: ['the link’s URLs', adminDownloadLinkResponse], 404: notFound, 409: conflict },
  ),
  operatorPost(
    'support',
    {
      path: '/admin/entitlements/{id}/storage-check',
      summary:
        'Do the entitlement’s files exist in storage; a test download of each through the buyer’s path, with sizes (support)',
      params: adminEntitlementParams,
      body: adminReasonBody,
    },
    {
      200: ['what storage and the test download answered', adminStorageCheckResponse],
      404: notFound,
    },
  ),
  operatorPost(
    'support',
    {
      path: '/admin/download-links/{id}/revoke',
      summary: 'Revoke a temporary download link: its next click is refused (support)',
      params: adminLinkParams,
      body: adminReasonBody,
    },
    { 200: ['revoked', adminLinkRevokeResponse], 404: notFound },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/entitlements/{ref}/revoke',
      summary:
        'Revoke the purchase’s access: links die, reminders stop, one cancellation email unless notifyBuyer is false (admin)',
      params: adminReference,
      body: adminRevokeBody,
    },
    { 200: ['revoked', adminAccessResponse], 404: notFound },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/entitlements/{ref}/restore',
      summary: 'Undo a revocation (refused while a full refund or dispute stands) (admin)',
      params: adminReference,
      body: adminReasonBody,
    },
    { 200: ['restored', adminAccessResponse], 404: notFound, 409: conflict },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/customers/{customer}/products/{sku}/grant',
      summary: 'Grant one product to an existing customer without a payment (admin)',
      params: adminCustomerProductParams,
      body: adminProductGrantBody,
    },
    {
      202: ['recorded; fulfillment started', adminProductGrantResponse],
      404: notFound,
      409: conflict,
    },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/customers/{customer}/products/{sku}/revoke',
      summary:
        'Revoke one product of a customer (the order’s other products stay): its links die, one cancellation email unless notifyBuyer is false (admin)',
      params: adminCustomerProductParams,
      body: adminProductRevokeBody,
    },
    { 200: ['revoked', adminProductAccessResponse], 404: notFound, 409: conflict },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/customers/{customer}/products/{sku}/restore',
      summary:
        'Undo a per-product revocation (refused while the order’s own facts revoke it) (admin)',
      params: adminCustomerProductParams,
      body: adminProductRestoreBody,
    },
    { 200: ['restored', adminProductAccessResponse], 404: notFound, 409: conflict },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/customers/merge',
      summary:
        'Move a customer’s purchases to another account, with at least two verification data points (admin)',
      body: adminMergeBody,
    },
    { 200: ['merged', adminMergeResponse], 404: notFound, 409: conflict },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/dsar/delete',
      summary:
        'Erase a person’s data: revoke access, stop reminders, then erase; keeps anonymised orders for finance (admin)',
      body: adminDsarBody,
    },
    { 200: ['the completion report, per table', adminDsarResponse] },
  ),
  operatorPost(
    'admin',
    {
      path: '/admin/catalog/import',
      summary: 'Validate and upsert the catalog in one transaction (admin)',
      body: adminCatalogBody,
    },
    {
      200: ['imported (or, with dry_run, what would change)', adminCatalogResponse],
      400: ['every problem found, nothing imported', adminProblemsResponse],
    },
  ),
  operatorOnly({
    method: 'get',
    path: '/admin/preflight',
    summary:
      'Pre-launch check of the Stripe account and storage: webhook endpoint and event types, signing secret, prices, catalog files (admin)',
    responses: {
      200: ['every check; ok is false when a row failed', adminPreflightResponse],
      401: unauthorized,
      403: forbidden,
    },
  }),
  operatorOnly({
    method: 'get',
    path: '/admin/webhook-events',
    summary: 'The webhook inbox, newest first (support)',
    query: adminEventsQuery,
    responses: { 200: ['events', adminEventsResponse], 400: bad, 401: unauthorized },
  }),
  operatorPost(
    'admin',
    {
      path: '/admin/webhook-events/{eventId}/replay',
      summary: 'Replay one recorded Stripe event through its idempotent path (admin)',
      params: adminEventParams,
      body: adminReplayBody,
    },
    {
      200: ['what the replay did', adminReplayResponse],
      404: ['no such recorded event', errorResponse],
    },
  ),
  operatorOnly({
    method: 'get',
    path: '/admin/reconciliation-runs',
    summary: 'Stored reconciliation runs, newest first (support)',
    query: adminReconciliationQuery,
    responses: {
      200: ['runs with their findings', adminReconciliationRunsResponse],
      400: bad,
      401: unauthorized,
    },
  }),
  operatorPost(
    'admin',
    {
      path: '/admin/reconciliation-runs',
      summary: 'Reconcile a UTC day against Stripe now, optionally healing (admin)',
      body: adminReconciliationBody,
    },
    { 201: ['the stored run', adminReconciliationRun] },
  ),
  operatorOnly({
    method: 'get',
    path: '/admin/alerts',
    summary: 'Alerts, newest first, with each sink’s delivery state (support)',
    query: adminAlertsQuery,
    responses: { 200: ['one page', adminAlertsResponse], 400: bad, 401: unauthorized },
  }),
  operatorOnly({
    method: 'get',
    path: '/admin/audit',
    summary: 'The audit log, newest first, by action, actor, time or order (support)',
    query: adminAuditQuery,
    responses: {
      200: ['one page', adminAuditResponse],
      400: bad,
      401: unauthorized,
      404: ['no order matches `order`', errorResponse],
    },
  }),
  operatorPost(
    'support',
    {
      path: '/admin/alerts/{id}/ack',
      summary: 'Acknowledge an alert; PagerDuty gets the acknowledge event (support)',
      params: adminAlertParams,
      body: adminReasonBody,
    },
    { 200: ['the alert, and whether it changed', adminAlertTransitionResponse], 404: notFound },
  ),
  operatorPost(
    'support',
    {
      path: '/admin/alerts/{id}/resolve',
      summary: 'Resolve an alert; PagerDuty gets the resolve event (support)',
      params: adminAlertParams,
      body: adminReasonBody,
    },
    { 200: ['the alert, and whether it changed', adminAlertTransitionResponse], 404: notFound },
  ),
];
