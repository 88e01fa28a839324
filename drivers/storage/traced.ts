import { inSpan, SpanKind } from '../../observability/tracing.ts';
import type { StorageDriver } from './driver.ts';

/**
 * The same driver, each call a `storage <operation>` span with its key (a product path such as
 * `ebooks/<slug>/<version>/file.pdf`; signed URLs are never recorded: they grant access).
 */
export function traceStorageDriver(driver: StorageDriver): StorageDriver {
  const span = <T>(operation: string, key: string, call: () => Promise<T>): Promise<T> =>
    inSpan(
      `storage ${operation}`,
      { kind: SpanKind.CLIENT, attributes: { 'storage.driver': driver.name, 'storage.key': key } },
      call,
    );
  return {
    name: driver.name,
    exists: (key) => span('exists', key, () => driver.exists(key)),
    put: (key, body) => span('put', key, () => driver.put(key, body)),
    signedUrl: (key, options) => span('sign_url', key, () => driver.signedUrl(key, options)),
  };
}
