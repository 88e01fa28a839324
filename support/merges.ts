import { findCustomerByReference } from '../db/queries/customers.ts';
import {
  mergeCustomerPurchases,
  MergeRefused,
  type MergedCustomers,
} from '../db/queries/merges.ts';
import { signalClaimed } from '../temporal/workflows.ts';
import {
  OperationError,
  requireReason,
  UUID,
  type Authorship,
  type OperationsDeps,
} from './context.ts';

/**
 * The verification data points an operator may record before moving purchases (seed 000:
 * "verify at least two data points … documenting the change"). `order_id`, `payment_intent`
 * and `purchase_date` are checked against the orders being moved; the others are attested
 * (checked by the operator in Stripe or with the buyer).
 */
export const VERIFICATION_KINDS = [
  'order_id',
  'payment_intent',
  'purchase_date',
  'last4',
  'billing_postcode',
  'billing_name',
] as const;
export type VerificationKind = (typeof VERIFICATION_KINDS)[number];

/** At least this many data points, of different kinds. */
export const MIN_VERIFICATION_POINTS = 2;

const FORMATS: Partial<Record<VerificationKind, [RegExp, string]>> = {
  last4: [/^\d{4}$/, 'four digits'],
  purchase_date: [/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD (UTC)'],
};

export interface MergeRequest {
  /** Whose purchases move: a customer id or email. */
  from: string;
  /** Where they go: a customer id, or an email (a guest profile is created when new). */
  to: string;
  verification: { kind: string; value: string }[];
}

export interface MergeOutcome extends MergedCustomers {
  /** Open fulfillment runs told the buyer has an account now (their claim reminders stop). */
  remindersStopped: number;
}

/** Checks the data points' shape: known kinds, values of their form, two different kinds. */
export function checkVerification(points: MergeRequest['verification']) {
  const problems: string[] = [];
  points.forEach((point, index) => {
    const where = `verification[${index}]`;
    if (!(VERIFICATION_KINDS as readonly string[]).includes(point.kind))
      problems.push(`${where}.kind: one of ${VERIFICATION_KINDS.join(', ')}`);
    const value = point.value.trim();
    if (!value || value.length > 200) problems.push(`${where}.value: 1–200 characters`);
    const format = FORMATS[point.kind as VerificationKind];
    if (format && !format[0].test(value)) problems.push(`${where}.value: ${format[1]}`);
  });
  const kinds = new Set(points.map((p) => p.kind));
  if (kinds.size < MIN_VERIFICATION_POINTS)
    problems.push(
      `verification: at least ${MIN_VERIFICATION_POINTS} data points of different kinds are required (got ${kinds.size})`,
    );
  if (problems.length > 0) throw new OperationError('invalid', problems.join('; '), problems);
  return points.map((p) => ({ kind: p.kind, value: p.value.trim() }));
}

/**
 * Moves a customer's purchases to another account (the buyer changed email, or bought under
 * two addresses): every order and its entitlements now belong to the target, no order is
 * created or split, and the finance record (amounts, payment intent) stays whole on one
 * customer. Needs at least two verification data points, recorded with the merge in
 * `customer_merges` and audited. When the target has an account, the moved purchases are
 * `active` at once and their open runs stop the claim reminders.
 */
export async function mergeCustomers(
  deps: OperationsDeps,
  request: MergeRequest,
  who: Authorship,
): Promise<MergeOutcome> {
  requireReason(who);
  const points = checkVerification(request.verification);
  const from = await findCustomerByReference(deps.db, request.from);
  if (!from) throw new OperationError('not_found', `from: no customer matches ${request.from}`);
  const to = request.to.trim();
  let target: { id: string } | { email: string };
  if (UUID.test(to)) target = { id: to };
  else if (/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(to)) target = { email: to.toLowerCase() };
  else throw new OperationError('invalid', 'to: a customer id or an email address');

  let merged: MergedCustomers;
  try {
    merged = await mergeCustomerPurchases(
      deps.db,
      { fromCustomerId: from.id, to: target, points },
      { operator: who.operator.name, role: who.operator.role, reason: who.reason },
    );
  } catch (error) {
    if (error instanceof MergeRefused) throw new OperationError(error.kind, error.message);
    throw error;
  }
  let remindersStopped = 0;
  if (merged.toClaimed) {
    for (const order of merged.orders)
      if (await signalClaimed(deps.temporal, order.purchaseKey)) remindersStopped += 1;
  }
  return { ...merged, remindersStopped };
}
