import {
  customerEmailSearchValue,
  DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
} from '../security/search-attribute-hash.ts';
import { erasePersonalData, type DsarTableReport } from '../db/queries/dsar.ts';
import { OperationError, requireReason, type Authorship, type OperationsDeps } from './context.ts';

export type { DsarTableReport };
export { REDACTED } from '../db/queries/dsar.ts';

export interface DsarReport {
  /**
   * The address's keyed hash (SEARCH_ATTRIBUTE_HASH_KEY), what the audit trail records instead
   * of the address: not reversible from a list of addresses without the key, and the same
   * value as the buyer's `CustomerEmail` search attribute in Temporal.
   */
  subject: string;
  customers: number;
  tables: DsarTableReport[];
}

/**
 * Erases a person's data (a data subject's deletion request) in one transaction:
 * personal fields are deleted or redacted wherever they are stored, while what finance must
 * keep — orders with their amounts and Stripe ids — stays, tied to an anonymous customer.
 * Safe to run again: a second run finds nothing left and says so.
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

  const { customers, tables } = await erasePersonalData(
    deps.db,
    email,
    { subject, operator: who.operator.name, role: who.operator.role, reason: who.reason },
    progress,
  );
  return { subject, customers, tables };
}
