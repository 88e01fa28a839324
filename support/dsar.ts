import {
  customerEmailSearchValue,
  DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
} from '../security/search-attribute-hash.ts';
import { erasePersonalData, findOrdersOfEmail, type DsarTableReport } from '../db/queries/dsar.ts';
import { revokeOrderAccess } from '../db/queries/operator-access.ts';
import { signalRevoked } from '../temporal/workflows.ts';
import type { FulfillmentStatus } from '../workflows/contracts.ts';
import { OperationError, requireReason, type Authorship, type OperationsDeps } from './context.ts';

export type { DsarTableReport };

/** Job statuses of a fulfillment that has not delivered yet (its run still sends email). */
const IN_FLIGHT = new Set<FulfillmentStatus>([
  'pending_storage',
  'pending_entitlement',
  'pending_email',
  'pending_retry',
]);
export { REDACTED } from '../db/queries/dsar.ts';

/** One step of a DSAR erasure, in the order they ran, with what it did. */
export interface DsarStep {
  step: 'revoke_access' | 'stop_reminders' | 'erase';
  outcome: 'done' | 'failed';
  detail: string;
}

export interface DsarReport {
  /**
   * The address's keyed hash (SEARCH_ATTRIBUTE_HASH_KEY), what the audit trail records instead
   * of the address: not reversible from a list of addresses without the key, and the same
   * value as the buyer's `CustomerEmail` search attribute in Temporal.
   */
  subject: string;
  customers: number;
  /** Revoke access, stop the open runs' reminders, erase: each with its outcome. */
  steps: DsarStep[];
  tables: DsarTableReport[];
}

/**
 * Carries out a data subject's deletion request, in three steps:
 * 1. revoke access — every order's entitlements become `revoked` (an operator's revocation
 *    without a cancellation email: the address is about to go), so every link dies;
 * 2. stop reminders — each open fulfillment run gets the `revoked` signal, so no reminder is
 *    rendered for the redacted address or mints a fresh claim link (the reminder step also
 *    finds nothing usable left, should a signal be lost);
 * 3. erase — in one transaction, personal fields are deleted or redacted wherever they are
 *    stored, while what finance must keep — orders with their amounts and Stripe ids — stays,
 *    tied to an anonymous customer.
 * Refused (nothing done) while one of the person's purchases is still being delivered.
 * A failed signal is reported and does not stop the erasure (step 1 already keeps the
 * reminders from going out). Safe to run again: a second run finds nothing left and says so.
 */
export async function deletePersonalData(
  deps: OperationsDeps,
  rawEmail: string,
  who: Authorship,
  progress: (line: string) => void = () => {},
): Promise<DsarReport> {
  requireReason(who);
  const email = rawEmail.trim().toLowerCase();
  if (!/^[^\s@]+@[^\s@]+$/.test(email))
    throw new OperationError('invalid', 'email: not an email address');
  const subject = customerEmailSearchValue(
    email,
    deps.emailHashKey ?? DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
  );
  const steps: DsarStep[] = [];

  const orders = await findOrdersOfEmail(deps.db, email);
  // A run still delivering would render its receipt (or cancellation) after the erasure, for
  // the anonymised address: wait until it has delivered (minutes), then erase.
  const delivering = orders.filter((o) => o.job_status !== null && IN_FLIGHT.has(o.job_status));
  if (delivering.length > 0)
    throw new OperationError(
      'conflict',
      `still being fulfilled: ${delivering.map((o) => `${o.purchase_key} (${o.job_status})`).join(', ')} — erase once delivered (npm run ops -- jobs show <ref>)`,
    );

  progress('revoking access…');
  let revoked = 0;
  for (const order of orders) {
    const change = await revokeOrderAccess(
      deps.db,
      { id: order.id, purchaseKey: order.purchase_key },
      {
        operator: who.operator.name,
        role: who.operator.role,
        // The address is cut out of reasons by the erasure below.
        reason: `DSAR erasure: ${who.reason}`,
        notifyBuyer: false,
      },
    );
    revoked += change.previous.filter((status) => status !== 'revoked').length;
  }
  steps.push({
    step: 'revoke_access',
    outcome: 'done',
    detail: `${revoked} entitlement(s) revoked in ${orders.length} order(s); no cancellation email`,
  });

  progress('stopping reminders…');
  let signalled = 0;
  const failures: string[] = [];
  for (const order of orders) {
    try {
      if (await signalRevoked(deps.temporal, order.purchase_key)) signalled += 1;
    } catch (error) {
      failures.push(
        `${order.purchase_key}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
  }
  steps.push({
    step: 'stop_reminders',
    outcome: failures.length ? 'failed' : 'done',
    detail:
      `${signalled} open fulfillment run(s) told to stop reminding` +
      (failures.length
        ? `; not reached: ${failures.join('; ')} (their reminders find nothing usable and send nothing)`
        : ''),
  });

  const { customers, tables } = await erasePersonalData(
    deps.db,
    email,
    { subject, operator: who.operator.name, role: who.operator.role, reason: who.reason },
    progress,
  );
  steps.push({
    step: 'erase',
    outcome: 'done',
    detail: `${customers} customer record(s) anonymised; ${tables.reduce((n, t) => n + t.deleted, 0)} row(s) deleted, ${tables.reduce((n, t) => n + t.redacted, 0)} redacted`,
  });
  return { subject, customers, steps, tables };
}
