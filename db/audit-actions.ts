/**
 * The audit vocabulary: every `audit_log.action` the service writes, and nothing else
 * (`recordAudit` accepts only these; the SQL that writes audit rows itself uses only these —
 * test/audit/vocabulary.test.ts checks both). docs/AUDIT.md says, for each, when it is written,
 * by which actor, with which target and fields. In db/ so every layer may import it.
 */
export const AUDIT_ACTIONS = [
  // Stripe webhook intake (gateway): each delivery, its outcome, and every rejection.
  'webhook.received',
  'webhook.duplicate',
  'webhook.processed',
  'webhook.ignored',
  'webhook.failed',
  'webhook.too_large',
  'webhook.missing_signature',
  'webhook.invalid_signature',
  'webhook.malformed',
  'webhook.replayed',
  'webhook.gap_redriven',
  'webhook.pruned',
  // Resend (email provider) webhook rejections.
  'resend_webhook.invalid_signature',
  'resend_webhook.malformed',
  // Entitlements: granted (paid purchase, reward, operator), revoked (refund, lost dispute,
  // reward revocation, operator), suspended (open dispute), restored (won dispute, operator).
  'entitlement.granted',
  'entitlement.revoked',
  'entitlement.suspended',
  'entitlement.restored',
  // Claiming a guest purchase into an account.
  'entitlement.claim_initiated',
  'entitlement.claim_success',
  // Downloads: one row per click of a download link or storefront download, by outcome.
  'download.issued',
  'download.denied',
  'download.expired',
  'download.forged',
  // Missions.
  'mission.reward_revoked',
  // Support operations (operator + reason).
  'links.resent',
  'claim_link.reissued',
  'download_link.issued',
  'download_link.revoked',
  'storage.checked',
  'customer.merged',
  'job.retried',
  'catalog.imported',
  'dsar.deleted',
  'reconciliation.run',
  'reconciliation.redriven',
  'alert.acknowledged',
  'alert.resolved',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Narrows a string (a query filter, a CLI flag) to an audit action. */
export const isAuditAction = (value: string): value is AuditAction =>
  (AUDIT_ACTIONS as readonly string[]).includes(value);
