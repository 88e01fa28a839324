import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import { EncryptionCodec, type PayloadKey } from '../security/payload-codec.ts';
import type { TemporalConnectionSettings } from '../config/temporal-connection.ts';
import type { TemporalTarget } from './client.ts';

/** Failure messages and stacks become payloads, so the codec encrypts them too. */
export const failureConverterPath = fileURLToPath(
  new URL('./failure-converter.ts', import.meta.url),
);

/**
 * The data converter every client and worker of the service uses: payloads encrypted with
 * `keys` (the first encrypts, all decrypt), or the SDK default when no keys are configured
 * (development and tests that do not set PAYLOAD_ENCRYPTION_KEYS; production refuses that).
 * Failure messages and stack traces are encrypted too (`failure-converter.ts`). Search
 * attributes are not payloads the codec sees: they hold keys and hashes only.
 */
export function payloadDataConverter(
  keys: readonly PayloadKey[] | undefined,
): DataConverter | undefined {
  if (!keys || keys.length === 0) return undefined;
  return { payloadCodecs: [new EncryptionCodec(keys)], failureConverterPath };
}

/**
 * Where Temporal is, how to reach it (TLS, API key) and how payloads are encoded, as the
 * configuration describes it (`loadConfig` resolves the connection through envconfig; a bare
 * address and namespace are enough for local tools).
 */
export function temporalTargetFromConfig(config: {
  TEMPORAL_ADDRESS: string;
  TEMPORAL_NAMESPACE: string;
  TEMPORAL_TASK_QUEUE?: string;
  PAYLOAD_ENCRYPTION_KEYS?: readonly PayloadKey[] | undefined;
  temporalConnection?: TemporalConnectionSettings;
}): TemporalTarget {
  const dataConverter = payloadDataConverter(config.PAYLOAD_ENCRYPTION_KEYS);
  const connection = config.temporalConnection;
  return {
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    ...(config.TEMPORAL_TASK_QUEUE ? { taskQueue: config.TEMPORAL_TASK_QUEUE } : {}),
    ...(dataConverter ? { dataConverter } : {}),
    ...(connection?.tls !== undefined ? { tls: connection.tls } : {}),
    ...(connection?.apiKey !== undefined ? { apiKey: connection.apiKey } : {}),
    ...(connection?.metadata ? { metadata: connection.metadata } : {}),
    ...(connection ? { settingNames: connection.settingNames } : {}),
  };
}
