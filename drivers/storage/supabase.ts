import { StorageApiError, StorageClient } from '@supabase/storage-js';
import type { StorageDriver } from './driver.ts';

// Storage serves a file with the type recorded at upload; the client's default (text/plain)
// would make browsers render an ebook as text instead of downloading it.
const contentTypes: Record<string, string> = {
  pdf: 'application/pdf',
  epub: 'application/epub+zip',
};

function contentTypeOf(key: string): string {
  const extension = key.slice(key.lastIndexOf('.') + 1).toLowerCase();
  return contentTypes[extension] ?? 'application/octet-stream';
}

/** A Supabase Storage call that failed. `status` is the HTTP status; null when nothing answered. */
export class SupabaseStorageError extends Error {
  readonly status: number | null;

  constructor(operation: string, key: string, cause: unknown) {
    const status = cause instanceof StorageApiError ? cause.status : null;
    // Storage answers most errors with HTTP 400 and the real status in the body's statusCode
    // ("404" for a missing object), so both belong in the message.
    const bodyStatus =
      cause instanceof StorageApiError && cause.statusCode !== String(cause.status)
        ? ` (statusCode ${cause.statusCode})`
        : '';
    const message = cause instanceof Error ? cause.message : String(cause);
    super(
      `supabase storage ${operation} ${key} failed: ${
        status === null ? 'unreachable' : `HTTP ${status}${bodyStatus}`
      } ${message}`,
      { cause },
    );
    this.name = 'SupabaseStorageError';
    this.status = status;
  }
}

/**
 * Objects in one Supabase Storage bucket, reached with the project's service key (which
 * bypasses row-level security, so the bucket stays private). `put` overwrites (upsert), so a
 * retried upload converges on the same object; `exists` is false only when Storage says the
 * object is not there; `signedUrl` is an absolute URL on the project that downloads the file as
 * `downloadName` until it expires. Every other failure throws a SupabaseStorageError carrying
 * the HTTP status and Storage's message.
 */
export function createSupabaseStorage({
  url,
  serviceKey,
  bucket,
}: {
  /** The project URL, e.g. https://<ref>.supabase.co: Storage lives under /storage/v1. */
  url: string;
  serviceKey: string;
  bucket: string;
}): StorageDriver {
  const objects = new StorageClient(`${url.replace(/\/+$/, '')}/storage/v1`, {
    apikey: serviceKey,
    Authorization: `Bearer ${serviceKey}`,
  }).from(bucket);

  return {
    name: 'supabase',
    async exists(key) {
      try {
        // The client answers { data: false } for Storage's not-found replies (HTTP 400 or
        // 404 to a HEAD) and throws for anything else.
        const { data } = await objects.exists(key);
        return data;
      } catch (error) {
        throw new SupabaseStorageError('exists', key, error);
      }
    },
    async put(key, body) {
      const { error } = await objects.upload(key, body, {
        upsert: true,
        contentType: contentTypeOf(key),
      });
      if (error) throw new SupabaseStorageError('put', key, error);
    },
    async signedUrl(key, { expiresInSeconds, downloadName }) {
      const { data, error } = await objects.createSignedUrl(key, expiresInSeconds, {
        download: downloadName,
      });
      if (error) throw new SupabaseStorageError('signedUrl', key, error);
      return data.signedUrl;
    },
  };
}
