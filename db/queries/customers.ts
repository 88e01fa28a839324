import type { DbExecutor } from '../database.ts';
import type { Customer } from '../tables/customers.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A customer by id or by email (emails are stored lower-cased); undefined when none. */
export async function findCustomerByReference(
  db: DbExecutor,
  reference: string,
): Promise<Customer | undefined> {
  const ref = reference.trim();
  return db
    .selectFrom('customers')
    .selectAll()
    .where(UUID.test(ref) ? 'id' : 'email', '=', UUID.test(ref) ? ref : ref.toLowerCase())
    .executeTakeFirst();
}
