import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { signToken, verifyToken } from '../../security/signed-tokens.ts';

/** Where purchased files live. Paths are storage keys like `ebooks/<slug>/<version>/file.pdf`. */
export interface StorageDriver {
  readonly name: string;
  exists(key: string): Promise<boolean>;
  put(key: string, body: Uint8Array): Promise<void>;
  /** A URL that downloads the file as `downloadName` for `expiresInSeconds`. */
  signedUrl(
    key: string,
    options: { expiresInSeconds: number; downloadName: string },
  ): Promise<string>;
}

function resolveKey(root: string, key: string): string {
  const file = path.resolve(root, key);
  // A key is always inside the root: `..` segments are a bug or an attack, never a file.
  if (!file.startsWith(path.resolve(root) + path.sep))
    throw new Error(`storage key escapes the root: ${key}`);
  return file;
}

export interface LocalUrlSigning {
  /** The api's public base: it serves local files at /storage/local/<key>. */
  publicBaseUrl: string;
  secrets: readonly string[];
}

/** Where a local file is served, signed so the URL cannot be altered or reused late. */
export function localStorageUrl(
  key: string,
  options: { expiresInSeconds: number; downloadName: string },
  signing: LocalUrlSigning,
): string {
  const token = signToken(
    {
      k: key,
      n: options.downloadName,
      x: Math.floor(Date.now() / 1000) + options.expiresInSeconds,
    },
    signing.secrets,
  );
  return `${signing.publicBaseUrl}/storage/local/${token}`;
}

/** Reads a local storage URL token: the key and download name while it is valid. */
export function readLocalStorageToken(
  token: string,
  secrets: readonly string[],
): { key: string; downloadName: string } | null {
  const claims = verifyToken(token, secrets) as { k?: unknown; n?: unknown; x?: unknown } | null;
  if (
    !claims ||
    typeof claims.k !== 'string' ||
    typeof claims.n !== 'string' ||
    typeof claims.x !== 'number'
  )
    return null;
  return claims.x * 1000 > Date.now() ? { key: claims.k, downloadName: claims.n } : null;
}

/** The file behind a local storage key (for the api route that serves signed URLs). */
export function localStoragePath(root: string, key: string): string {
  return resolveKey(root, key);
}

/** Files under a local directory (the default for `npm start` and the tests). */
export function createLocalStorage(root: string, signing?: LocalUrlSigning): StorageDriver {
  return {
    name: 'local',
    async exists(key) {
      try {
        return (await stat(resolveKey(root, key))).isFile();
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw error;
      }
    },
    async put(key, body) {
      const file = resolveKey(root, key);
      await mkdir(path.dirname(file), { recursive: true });
      await writeFile(file, body);
    },
    signedUrl(key, options) {
      if (!signing) return Promise.reject(new Error('local storage has no URL signing configured'));
      return Promise.resolve(localStorageUrl(key, options, signing));
    },
  };
}
