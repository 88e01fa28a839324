import { parseArgs } from 'node:util';
import { issueTemporaryLink, revokeTemporaryDownloadLink } from '../../support/download-links.ts';
import { checkEntitlementStorage } from '../../support/storage-check.ts';
import { printRows } from '../lib/table.ts';
import { authorship, operationsDeps, parseCount, type OpsContext } from './common.ts';
import { UsageError } from './events.ts';

export const DOWNLOADS_USAGE = `downloads link <entitlement id> [--expires-in-hours N] --operator NAME --reason TEXT   a temporary download link to pass on (24 h unless said, 168 at most)
downloads revoke-link <link id> --operator NAME --reason TEXT   the temporary link's next click is refused
downloads check <entitlement id> --operator NAME --reason TEXT   do its files exist in storage; a test download of each through the buyer's path (sizes)`;

/** `npm run ops -- downloads link|revoke-link …`. */
export async function runDownloadsCommand(argv: string[], context: OpsContext): Promise<void> {
  const [sub, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      'expires-in-hours': { type: 'string' },
      operator: { type: 'string' },
      reason: { type: 'string' },
    },
  });
  const ref = positionals[0];
  const deps = operationsDeps(context);
  switch (sub) {
    case 'link': {
      if (!ref) throw new UsageError(`downloads link needs an entitlement id\n${DOWNLOADS_USAGE}`);
      const who = authorship(values, DOWNLOADS_USAGE);
      const expiresInHours = parseCount('expires-in-hours', values['expires-in-hours'], 24);
      const link = await issueTemporaryLink(deps, ref, { expiresInHours }, who);
      if (context.json) printRows([{ ...link }], true);
      else
        printRows(
          link.urls.map(({ format, url }) => ({
            link: link.linkId,
            format,
            expires: link.expiresAt,
            url,
          })),
          false,
        );
      return;
    }
    case 'revoke-link': {
      if (!ref) throw new UsageError(`downloads revoke-link needs a link id\n${DOWNLOADS_USAGE}`);
      const who = authorship(values, DOWNLOADS_USAGE);
      printRows([{ ...(await revokeTemporaryDownloadLink(deps, ref, who)) }], context.json);
      return;
    }
    case 'check': {
      if (!ref) throw new UsageError(`downloads check needs an entitlement id\n${DOWNLOADS_USAGE}`);
      const who = authorship(values, DOWNLOADS_USAGE);
      const check = await checkEntitlementStorage(deps, ref, who);
      if (context.json) printRows([{ ...check }], true);
      else
        printRows(
          check.files.map((file) => ({
            entitlement: check.entitlementId,
            status: check.status,
            format: file.format,
            key: file.key,
            exists: file.exists,
            download: file.download.error ?? file.download.status,
            bytes: file.download.bytes,
          })),
          false,
        );
      return;
    }
    default:
      throw new UsageError(`unknown downloads command ${sub ?? '(none)'}\n${DOWNLOADS_USAGE}`);
  }
}
