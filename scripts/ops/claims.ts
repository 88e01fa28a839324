import { parseArgs } from 'node:util';
import { reissueClaimLink } from '../../support/claims.ts';
import { printRows } from '../lib/table.ts';
import { authorship, operationsDeps, type OpsContext } from './common.ts';
import { UsageError } from './events.ts';

export const CLAIMS_USAGE = `claims reissue <order ref> --operator NAME --reason TEXT   email the guest a fresh claim link (older links stop working; 3 an hour per buyer)`;

/** `npm run ops -- claims reissue <ref>`. */
export async function runClaimsCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { operator: { type: 'string' }, reason: { type: 'string' } },
  });
  if (sub !== 'reissue')
    throw new UsageError(`unknown claims command ${sub ?? '(none)'}\n${CLAIMS_USAGE}`);
  const ref = positionals[0];
  if (!ref) throw new UsageError(`claims reissue needs an order reference\n${CLAIMS_USAGE}`);
  const who = authorship(values, CLAIMS_USAGE);
  printRows([{ ...(await reissueClaimLink(operationsDeps(context), ref, who)) }], context.json);
}
