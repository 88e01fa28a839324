import { createLocalStorage, type StorageDriver } from '../../drivers/storage/driver.ts';
import { createSupabaseStorage } from '../../drivers/storage/supabase.ts';
import { traceStorageDriver } from '../../drivers/storage/traced.ts';
import type { Config } from '../../config/env.ts';

/** How links and local storage URLs are signed, when secrets are configured. */
export function linkSigning(config: Config) {
  return config.DOWNLOAD_TOKEN_SECRETS
    ? { publicBaseUrl: config.PUBLIC_BASE_URL, secrets: config.DOWNLOAD_TOKEN_SECRETS }
    : undefined;
}

/** The storage driver the configuration describes; every call is a span. */
export function createStorage(config: Config): StorageDriver {
  if (config.STORAGE_DRIVER === 'supabase') {
    return traceStorageDriver(
      createSupabaseStorage({
        url: config.SUPABASE_URL!,
        serviceKey: config.SUPABASE_SERVICE_KEY!,
        bucket: config.SUPABASE_BUCKET,
      }),
    );
  }
  return traceStorageDriver(createLocalStorage(config.STORAGE_LOCAL_DIR, linkSigning(config)));
}
