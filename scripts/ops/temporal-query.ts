import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  customerEmailSearchValue,
  DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
} from '../../security/search-attribute-hash.ts';
import { resolveTemporalConnection } from '../../config/temporal-connection.ts';
import { envSchema } from '../../config/env.ts';
import { FULFILLMENT_STATUSES, searchAttributes } from '../../workflows/contracts.ts';
import { UsageError } from './events.ts';

export const TEMPORAL_QUERY_USAGE = `temporal-query --email ADDRESS [--status S]
                                    the Web UI / temporal CLI query for a buyer's workflows
                                    (CustomerEmail holds a keyed hash, never the address)`;

export interface TemporalQuery {
  query: string;
  url: string;
  cli: string;
  /** Where the hash key came from: a mismatch with the worker's key finds nothing. */
  hashKeySource: string;
}

/** The local key `npm start` generates when SEARCH_ATTRIBUTE_HASH_KEY is unset. */
const LOCAL_HASH_KEY_FILE = path.resolve('.data/dev-search-attribute-hash-key');

interface QuerySettings {
  SEARCH_ATTRIBUTE_HASH_KEY?: string | undefined;
  TEMPORAL_UI_URL: string;
  TEMPORAL_NAMESPACE: string;
}

/**
 * The three settings the query needs, validated like the rest of the configuration (so the
 * command works without a database or Stripe settings, e.g. next to `npm start`).
 */
function querySettings(env: NodeJS.ProcessEnv): QuerySettings {
  const keys = ['SEARCH_ATTRIBUTE_HASH_KEY', 'TEMPORAL_UI_URL', 'TEMPORAL_NAMESPACE'] as const;
  const parsed = envSchema
    .pick({ SEARCH_ATTRIBUTE_HASH_KEY: true, TEMPORAL_UI_URL: true, TEMPORAL_NAMESPACE: true })
    .safeParse(Object.fromEntries(keys.flatMap((key) => (env[key] ? [[key, env[key]]] : []))));
  if (!parsed.success) {
    throw new UsageError(
      `Invalid configuration:\n${parsed.error.issues.map((issue) => `  - ${issue.path.join('.')}: ${issue.message}`).join('\n')}`,
    );
  }
  // The namespace as every client resolves it (a temporal.toml profile may name it).
  const namespace =
    parsed.data.TEMPORAL_NAMESPACE ??
    resolveTemporalConnection(env).settings?.namespace ??
    'default';
  return { ...parsed.data, TEMPORAL_NAMESPACE: namespace };
}

/**
 * The visibility query that finds a buyer's workflows: `CustomerEmail` holds the keyed hash
 * the worker computed, so the address is hashed here with the same SEARCH_ATTRIBUTE_HASH_KEY.
 */
export function buildTemporalQuery(
  config: QuerySettings,
  email: string,
  status?: string,
): TemporalQuery {
  const [key, hashKeySource] = config.SEARCH_ATTRIBUTE_HASH_KEY
    ? [config.SEARCH_ATTRIBUTE_HASH_KEY, 'SEARCH_ATTRIBUTE_HASH_KEY']
    : existsSync(LOCAL_HASH_KEY_FILE)
      ? [
          readFileSync(LOCAL_HASH_KEY_FILE, 'utf8').trim(),
          '.data/dev-search-attribute-hash-key (npm start)',
        ]
      : [
          DEVELOPMENT_SEARCH_ATTRIBUTE_HASH_KEY,
          'the development default (SEARCH_ATTRIBUTE_HASH_KEY unset)',
        ];
  const hash = customerEmailSearchValue(email, key);
  const query = [
    `${searchAttributes.customerEmail.name}="${hash}"`,
    ...(status ? [`${searchAttributes.fulfillmentStatus.name}="${status}"`] : []),
  ].join(' AND ');
  const base = config.TEMPORAL_UI_URL.replace(/\/+$/, '');
  const namespace = encodeURIComponent(config.TEMPORAL_NAMESPACE);
  return {
    query,
    url: `${base}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`,
    cli: `temporal workflow list --namespace ${config.TEMPORAL_NAMESPACE} --query '${query}'`,
    hashKeySource,
  };
}

/** `npm run ops -- temporal-query --email x@y`: prints the query, the deep link and the CLI line. */
export function runTemporalQueryCommand(
  argv: string[],
  env: NodeJS.ProcessEnv,
  json: boolean,
): void {
  let values: { email?: string | undefined; status?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { email: { type: 'string' }, status: { type: 'string' } },
    }));
  } catch (error) {
    throw new UsageError(`temporal-query: ${(error as Error).message}\n\n${TEMPORAL_QUERY_USAGE}`);
  }
  const email = values.email?.trim();
  if (!email || !email.includes('@'))
    throw new UsageError(
      `temporal-query: --email needs an email address\n\n${TEMPORAL_QUERY_USAGE}`,
    );
  if (
    values.status !== undefined &&
    !(FULFILLMENT_STATUSES as readonly string[]).includes(values.status)
  )
    throw new UsageError(
      `temporal-query: --status must be one of ${FULFILLMENT_STATUSES.join(', ')}`,
    );
  const result = buildTemporalQuery(querySettings(env), email, values.status);
  if (json) {
    console.log(JSON.stringify(result));
    return;
  }
  console.log(`Web UI query:  ${result.query}
Open:          ${result.url}
temporal CLI:  ${result.cli}
hash key:      ${result.hashKeySource}`);
}
