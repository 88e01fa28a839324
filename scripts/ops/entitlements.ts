import { parseArgs } from 'node:util';
import type { RewardKind } from '../../db/tables/rewards.ts';
import {
  grantEntitlement,
  resendLinks,
  restoreAccess,
  revokeAccess,
} from '../../support/entitlements.ts';
import { printRows } from '../lib/table.ts';
import { authorship, operationsDeps, type OpsContext } from './common.ts';
import { UsageError } from './events.ts';

export const ENTITLEMENTS_USAGE = `resend <entitlement|order ref> --operator NAME --reason TEXT   fresh links by email (no hourly limit)
entitlements grant --email E --sku SKU[,SKU] [--user-id ID] [--kind coupon|mission] [--mission-id ID] [--grant-id ID] --operator NAME --reason TEXT
entitlements revoke <entitlement|order ref> [--no-email] --operator NAME --reason TEXT    links die, reminders stop, cancellation email
entitlements restore <entitlement|order ref> --operator NAME --reason TEXT   back to active/pending_claim`;

const options = {
  email: { type: 'string' },
  sku: { type: 'string', multiple: true },
  'user-id': { type: 'string' },
  kind: { type: 'string' },
  'mission-id': { type: 'string' },
  'grant-id': { type: 'string' },
  operator: { type: 'string' },
  reason: { type: 'string' },
  'no-email': { type: 'boolean' },
} as const;

/** `npm run ops -- resend <ref>`. */
export async function runResendCommand(argv: string[], context: OpsContext): Promise<void> {
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, options });
  const ref = positionals[0];
  if (!ref)
    throw new UsageError(`resend needs an entitlement or order reference\n${ENTITLEMENTS_USAGE}`);
  const who = authorship(values, ENTITLEMENTS_USAGE);
  printRows([{ ...(await resendLinks(operationsDeps(context), ref, who)) }], context.json);
}

/** `npm run ops -- entitlements grant|revoke|restore …`. */
export async function runEntitlementsCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options });
  const deps = operationsDeps(context);
  switch (sub) {
    case 'grant': {
      if (!values.email || !values.sku?.length)
        throw new UsageError(`entitlements grant needs --email and --sku\n${ENTITLEMENTS_USAGE}`);
      if (values.kind && values.kind !== 'coupon' && values.kind !== 'mission')
        throw new UsageError('--kind must be coupon or mission');
      const who = authorship(values, ENTITLEMENTS_USAGE);
      const outcome = await grantEntitlement(
        deps,
        {
          email: values.email,
          skus: values.sku.flatMap((s) => s.split(',')),
          userId: values['user-id'],
          kind: values.kind as RewardKind | undefined,
          missionId: values['mission-id'],
          grantId: values['grant-id'],
        },
        who,
      );
      printRows([{ ...outcome }], context.json);
      return;
    }
    case 'revoke':
    case 'restore': {
      const ref = positionals[0];
      if (!ref)
        throw new UsageError(`entitlements ${sub} needs a reference\n${ENTITLEMENTS_USAGE}`);
      const who = authorship(values, ENTITLEMENTS_USAGE);
      const change =
        sub === 'revoke'
          ? await revokeAccess(deps, ref, who, { notifyBuyer: !values['no-email'] })
          : await restoreAccess(deps, ref, who);
      printRows(
        [
          {
            order: change.orderId,
            purchase: change.purchaseKey,
            entitlements: change.entitlementIds.join(' '),
            before: [...new Set(change.previous)].join(','),
            status: change.status,
            ...(change.remindersStopped === undefined
              ? {}
              : { reminders_stopped: change.remindersStopped }),
            ...(change.cancellationWorkflowId === undefined
              ? {}
              : { cancellation_email: change.cancellationWorkflowId ?? 'none' }),
          },
        ],
        context.json,
      );
      return;
    }
    default:
      throw new UsageError(
        `unknown entitlements command ${sub ?? '(none)'}\n${ENTITLEMENTS_USAGE}`,
      );
  }
}
