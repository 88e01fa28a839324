import { parseArgs } from 'node:util';
import { deletePersonalData } from '../../support/dsar.ts';
import { printRows } from '../lib/table.ts';
import { authorship, operationsDeps, progress, type OpsContext } from './common.ts';
import { UsageError } from './events.ts';

export const DSAR_USAGE = `dsar delete --email E --operator NAME --reason TEXT   revoke access, stop reminders, then erase a person's data; prints each step and a per-table report`;

/** `npm run ops -- dsar delete --email …`. */
export async function runDsarCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'delete')
    throw new UsageError(`unknown dsar command ${sub ?? '(none)'}\n${DSAR_USAGE}`);
  const { values } = parseArgs({
    args: rest,
    options: {
      email: { type: 'string' },
      operator: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  if (!values.email) throw new UsageError(`dsar delete needs --email\n${DSAR_USAGE}`);
  const who = authorship(values, DSAR_USAGE);
  const report = await deletePersonalData(operationsDeps(context), values.email, who, progress);
  if (context.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  console.log(`subject ${report.subject}: ${report.customers} customer record(s)\n`);
  printRows(
    report.steps.map((s) => ({ ...s })),
    false,
  );
  console.log('');
  printRows(
    report.tables.map((t) => ({ ...t })),
    false,
  );
}
