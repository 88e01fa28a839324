import type { Client } from '@temporalio/client';
import type { Config } from '../../config/env.ts';
import type { Db } from '../../db/database.ts';
import type { Authorship, OperationsDeps } from '../../support/context.ts';
import { createStorage } from '../lib/services.ts';

/** What every operations command receives from scripts/ops.ts. */
export interface OpsContext {
  db: Db;
  temporal: Client;
  config: Config;
  json: boolean;
}

export function operationsDeps({ db, temporal, config }: OpsContext): OperationsDeps {
  return {
    db,
    temporal,
    temporalUi: { baseUrl: config.TEMPORAL_UI_URL, namespace: config.TEMPORAL_NAMESPACE },
    emailHashKey: config.SEARCH_ATTRIBUTE_HASH_KEY,
    storage: createStorage(config),
    links: config.DOWNLOAD_TOKEN_SECRETS
      ? { publicBaseUrl: config.PUBLIC_BASE_URL, secrets: config.DOWNLOAD_TOKEN_SECRETS }
      : undefined,
  };
}

/**
 * `--operator` and `--reason`, required for every mutation: the CLI runs with database access,
 * so its operator acts with the admin role, and the name is what audit_log records.
 */
export function authorship(
  values: { operator?: string | undefined; reason?: string | undefined },
  usage: string,
): Authorship {
  const missing = [
    ...(values.operator?.trim() ? [] : ['--operator NAME']),
    ...(values.reason && values.reason.trim().length >= 3 ? [] : ['--reason TEXT (3+ characters)']),
  ];
  if (missing.length > 0) {
    throw new UsageError(`this command changes data and needs ${missing.join(' and ')}\n${usage}`);
  }
  return {
    operator: { name: values.operator!.trim(), role: 'admin' },
    reason: values.reason!.trim(),
  };
}

/** A progress line for long runs: stderr, so --json output on stdout stays parseable. */
export const progress = (line: string): void => {
  process.stderr.write(`… ${line}\n`);
};

/** A wrong command line: printed with the usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseCount(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const count = Number(value);
  if (!Number.isInteger(count) || count < 0)
    throw new UsageError(`--${name}: not a whole number: ${value}`);
  return count;
}

/** `--since ISO`: a date, or a usage error naming the option. */
export function parseSince(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new UsageError(`--since: not a date: ${value}`);
  return date;
}

/** `--limit N` of a paged list: 50 unless given, held to 1–500. */
export const parsePageLimit = (value: string | undefined): number =>
  Math.min(500, Math.max(1, parseCount('limit', value, 50)));
