import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { importCatalog } from '../../support/catalog.ts';
import { printRows } from '../lib/table.ts';
import { authorship, operationsDeps, progress, type OpsContext } from './common.ts';
import { UsageError } from './events.ts';

export const CATALOG_USAGE = `catalog import <file.json> --operator NAME --reason TEXT [--dry-run]
                                    products, formats, versions, Stripe price ids; checks storage`;

/** `npm run ops -- catalog import <file>`. */
export async function runCatalogCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub !== 'import')
    throw new UsageError(`unknown catalog command ${sub ?? '(none)'}\n${CATALOG_USAGE}`);
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      operator: { type: 'string' },
      reason: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  const file = positionals[0];
  if (!file) throw new UsageError(`catalog import needs a file\n${CATALOG_USAGE}`);
  const who = authorship(values, CATALOG_USAGE);
  let content: unknown;
  try {
    content = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const report = await importCatalog(
    operationsDeps(context),
    content,
    { ...who, dryRun: values['dry-run'] },
    progress,
  );
  if (context.json) {
    console.log(JSON.stringify(report, null, 2));
    return;
  }
  if (report.dryRun) console.log('dry run: nothing was written\n');
  printRows(
    report.products.map((p) => ({ ...p })),
    false,
  );
}
