import { parseArgs } from 'node:util';
import { mergeCustomers } from '../../support/merges.ts';
import { grantProduct, restoreProduct, revokeProduct } from '../../support/product-access.ts';
import { printRows } from '../lib/table.ts';
import { authorship, operationsDeps, type OpsContext } from './common.ts';
import { UsageError } from './events.ts';

export const PRODUCTS_USAGE = `products grant --customer ID|EMAIL --sku SKU [--grant-id ID] --operator NAME --reason TEXT   one product to an existing customer, no payment
products revoke --customer ID|EMAIL --sku SKU [--order REF] [--no-email] --operator NAME --reason TEXT   that product's links die; the order's other products stay; cancellation email
products restore --customer ID|EMAIL --sku SKU [--order REF] --operator NAME --reason TEXT   undo a product revocation`;

export const CUSTOMERS_USAGE = `customers merge --from ID|EMAIL --to ID|EMAIL --verify KIND=VALUE --verify KIND=VALUE [...] --operator NAME --reason TEXT
    move every purchase to another account; at least two data points, KIND one of
    order_id, payment_intent, purchase_date (checked against the orders), last4, billing_postcode, billing_name`;

/** `npm run ops -- products grant|revoke|restore …`. */
export async function runProductsCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      customer: { type: 'string' },
      sku: { type: 'string' },
      order: { type: 'string' },
      'grant-id': { type: 'string' },
      'no-email': { type: 'boolean' },
      operator: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  if (sub !== 'grant' && sub !== 'revoke' && sub !== 'restore')
    throw new UsageError(`unknown products command ${sub ?? '(none)'}\n${PRODUCTS_USAGE}`);
  if (!values.customer || !values.sku)
    throw new UsageError(`products ${sub} needs --customer and --sku\n${PRODUCTS_USAGE}`);
  const who = authorship(values, PRODUCTS_USAGE);
  const deps = operationsDeps(context);
  const request = { customer: values.customer, sku: values.sku, order: values.order };
  if (sub === 'grant') {
    const outcome = await grantProduct(
      deps,
      { customer: values.customer, sku: values.sku, grantId: values['grant-id'] },
      who,
    );
    printRows([{ ...outcome }], context.json);
    return;
  }
  const outcome =
    sub === 'revoke'
      ? await revokeProduct(deps, request, who, { notifyBuyer: !values['no-email'] })
      : await restoreProduct(deps, request, who);
  if (context.json) {
    console.log(JSON.stringify(outcome, null, 2));
    return;
  }
  printRows(
    outcome.entitlements.map((e) => ({
      entitlement: e.entitlementId,
      order: e.purchaseKey,
      sku: e.sku,
      before: e.previous,
      status: e.status,
      changed: e.changed,
      ...(sub === 'revoke'
        ? {
            cancellation_email: e.cancellationWorkflowId ?? 'none',
            order_revoked: e.orderRevoked,
          }
        : {}),
    })),
    false,
  );
}

/** `npm run ops -- customers merge …`. */
export async function runCustomersCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'merge')
    throw new UsageError(`unknown customers command ${sub ?? '(none)'}\n${CUSTOMERS_USAGE}`);
  const { values } = parseArgs({
    args: rest,
    options: {
      from: { type: 'string' },
      to: { type: 'string' },
      verify: { type: 'string', multiple: true },
      operator: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  if (!values.from || !values.to)
    throw new UsageError(`customers merge needs --from and --to\n${CUSTOMERS_USAGE}`);
  const verification = (values.verify ?? []).map((pair) => {
    const at = pair.indexOf('=');
    if (at <= 0) throw new UsageError(`--verify ${pair}: write KIND=VALUE\n${CUSTOMERS_USAGE}`);
    return { kind: pair.slice(0, at).trim(), value: pair.slice(at + 1) };
  });
  const who = authorship(values, CUSTOMERS_USAGE);
  const merged = await mergeCustomers(
    operationsDeps(context),
    { from: values.from, to: values.to, verification },
    who,
  );
  if (context.json) {
    console.log(JSON.stringify(merged, null, 2));
    return;
  }
  printRows(
    [
      {
        merge: merged.mergeId,
        from: merged.fromCustomerId,
        to: merged.toCustomerId,
        orders: merged.orders.map((o) => o.purchaseKey).join(' '),
        entitlements_moved: merged.entitlementsMoved,
        verified: merged.verification.map((v) => `${v.kind}(${v.check})`).join(' '),
        reminders_stopped: merged.remindersStopped,
      },
    ],
    false,
  );
}
