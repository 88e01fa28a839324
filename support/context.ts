import type { Client } from '@temporalio/client';
import type { StorageDriver } from '../drivers/storage/driver.ts';
import type { Db } from '../db/database.ts';

/** What an operation acts on: the database, Temporal and (for the catalog) storage. */
export interface OperationsDeps {
  db: Db;
  temporal: Client;
  /** Where the Temporal Web UI lives, for deep links from a job's timeline. */
  temporalUi: { baseUrl: string; namespace: string };
  storage: StorageDriver;
  /** SEARCH_ATTRIBUTE_HASH_KEY: keys the hash a DSAR deletion records instead of the address. */
  emailHashKey?: string | undefined;
  /** Signs support's temporary download links; undefined without DOWNLOAD_TOKEN_SECRETS. */
  links?: { publicBaseUrl: string; secrets: readonly string[] } | undefined;
}

/** Who acts and why: recorded on every audit row an operation writes. */
export interface Authorship {
  operator: { name: string; role: string };
  reason: string;
}

/**
 * A request an operation refuses: `not_found` (nothing matches), `invalid` (bad input, named),
 * `conflict` (the current state forbids it), `rate_limited` (too many of these lately). The API
 * maps these to 404 / 400 / 409 / 429, the CLI to exit code 1 with the message.
 */
export class OperationError extends Error {
  override name = 'OperationError';
  readonly kind: 'not_found' | 'invalid' | 'conflict' | 'rate_limited';
  readonly detail: unknown;
  constructor(kind: OperationError['kind'], message: string, detail?: unknown) {
    super(message);
    this.kind = kind;
    this.detail = detail;
  }
}

/** Refuses a mutation without a reason: every audited action says why. */
export function requireReason({ reason }: Authorship): void {
  if (reason.trim().length < 3)
    throw new OperationError('invalid', 'reason: at least 3 characters');
}

/** The Temporal Web UI page of one workflow. */
export function temporalWorkflowUrl(ui: OperationsDeps['temporalUi'], workflowId: string): string {
  return `${ui.baseUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** The Temporal Web UI's workflow list filtered by a visibility query. */
export function temporalQueryUrl(ui: OperationsDeps['temporalUi'], query: string): string {
  return `${ui.baseUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(ui.namespace)}/workflows?query=${encodeURIComponent(query)}`;
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
