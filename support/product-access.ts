import { findCustomerByReference } from '../db/queries/customers.ts';
import {
  findCustomerProductEntitlements,
  ProductAccessRefused,
  restoreProductAccess,
  revokeProductAccess,
  type ProductAccessChange,
} from '../db/queries/product-access.ts';
import { findProductsBySkus } from '../db/queries/products.ts';
import type { Customer } from '../db/tables/customers.ts';
import { signalRevoked, startProductRevocation } from '../temporal/workflows.ts';
import { OperationError, requireReason, type Authorship, type OperationsDeps } from './context.ts';
import { grantEntitlement, type GrantOutcome } from './entitlements.ts';
import { resolvePurchase } from './jobs.ts';

/*
 * Per-product access (seed 004: grant and revoke per user and product): keyed by a customer
 * (id or email) and a SKU; the orders' other products stay as they are.
 */

export interface ProductRequest {
  /** A customer id or email. */
  customer: string;
  sku: string;
  /** Narrows to one order (any reference `jobs show` takes) when the SKU was bought twice. */
  order?: string | undefined;
}

export interface ProductAccessOutcome {
  customerId: string;
  sku: string;
  entitlements: (ProductAccessChange & {
    /** Revoke: the run sending this product's cancellation email (null: none wanted). */
    cancellationWorkflowId?: string | null;
    /** Revoke: the order's fulfillment run was told to stop reminding (every product gone). */
    remindersStopped?: boolean;
  })[];
}

async function customerOf(deps: OperationsDeps, reference: string): Promise<Customer> {
  if (!reference.trim()) throw new OperationError('invalid', 'customer: an id or an email');
  const customer = await findCustomerByReference(deps.db, reference);
  if (!customer) throw new OperationError('not_found', `no customer matches ${reference.trim()}`);
  return customer;
}

async function ownedBy(deps: OperationsDeps, request: ProductRequest) {
  const sku = request.sku.trim();
  if (!sku) throw new OperationError('invalid', 'sku: a product SKU');
  const customer = await customerOf(deps, request.customer);
  const orderId = request.order
    ? (await resolvePurchase(deps.db, request.order)).order.id
    : undefined;
  const owned = await findCustomerProductEntitlements(deps.db, {
    customerId: customer.id,
    sku,
    orderId,
  });
  if (owned.length === 0)
    throw new OperationError(
      'not_found',
      `customer ${customer.id} owns no ${sku}${request.order ? ` in ${request.order}` : ''}`,
    );
  return { customer, sku, owned };
}

const refusedAsConflict = (error: unknown): never => {
  if (error instanceof ProductAccessRefused) throw new OperationError('conflict', error.message);
  throw error;
};

/**
 * Revokes one product for a customer: that product's links die, the order's other products
 * stay, the buyer gets one cancellation email naming it (unless `notifyBuyer` is false), and —
 * when no product of the order is left — the job is `revoked` and the fulfillment run stops
 * reminding. The revocation workflow carries the job's status to `FulfillmentStatus`.
 * Idempotent: revoking again changes nothing (a failed email start is started again).
 */
export async function revokeProduct(
  deps: OperationsDeps,
  request: ProductRequest,
  who: Authorship,
  { notifyBuyer = true }: { notifyBuyer?: boolean } = {},
): Promise<ProductAccessOutcome> {
  requireReason(who);
  const { customer, sku, owned } = await ownedBy(deps, request);
  const changes = await revokeProductAccess(deps.db, owned, {
    operator: who.operator.name,
    role: who.operator.role,
    reason: who.reason,
    notifyBuyer,
  }).catch(refusedAsConflict);
  const entitlements = [];
  for (const change of changes) {
    const cancellationWorkflowId =
      change.emailSequence !== null
        ? await startProductRevocation(deps.temporal, change.orderId, change.emailSequence)
        : null;
    const remindersStopped = change.orderRevoked
      ? await signalRevoked(deps.temporal, change.purchaseKey)
      : false;
    entitlements.push({ ...change, cancellationWorkflowId, remindersStopped });
  }
  return { customerId: customer.id, sku, entitlements };
}

/**
 * Lifts a customer's product revocation: the product is downloadable again (`active` or
 * `pending_claim`). Refused while the order's own facts (a full refund, a dispute, a
 * whole-order revocation) keep it revoked or suspended.
 */
export async function restoreProduct(
  deps: OperationsDeps,
  request: ProductRequest,
  who: Authorship,
): Promise<ProductAccessOutcome> {
  requireReason(who);
  const { customer, sku, owned } = await ownedBy(deps, request);
  const entitlements = await restoreProductAccess(deps.db, owned, {
    operator: who.operator.name,
    role: who.operator.role,
    reason: who.reason,
  }).catch(refusedAsConflict);
  return { customerId: customer.id, sku, entitlements };
}

/**
 * Grants one product to an existing customer (by id or email) without a payment: an
 * operator's grant to the customer's email and account, fulfilled like a purchase. Refused
 * when the customer owns the product already (restore it if it was revoked).
 */
export async function grantProduct(
  deps: OperationsDeps,
  request: Omit<ProductRequest, 'order'> & { grantId?: string | undefined },
  who: Authorship,
): Promise<GrantOutcome & { customerId: string; sku: string }> {
  requireReason(who);
  const sku = request.sku.trim();
  if (!sku) throw new OperationError('invalid', 'sku: a product SKU');
  const customer = await customerOf(deps, request.customer);
  if ((await findProductsBySkus(deps.db, [sku])).length === 0)
    throw new OperationError('invalid', `sku: not in the catalog: ${sku}`);
  const owned = await findCustomerProductEntitlements(deps.db, { customerId: customer.id, sku });
  if (owned.length > 0 && !request.grantId)
    throw new OperationError(
      'conflict',
      `customer ${customer.id} owns ${sku} already (${owned.map((o) => o.purchase_key).join(', ')}): restore it if it was revoked`,
    );
  const outcome = await grantEntitlement(
    deps,
    {
      email: customer.email,
      skus: [sku],
      userId: customer.auth_user_id ?? undefined,
      grantId: request.grantId,
    },
    who,
  );
  return { ...outcome, customerId: customer.id, sku };
}
