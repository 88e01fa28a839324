import { mkdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Where purchased files live. Paths are storage keys like `ebooks/<slug>/<version>/file.pdf`. */
export interface StorageDriver {
  readonly name: string;
  exists(key: string): Promise<boolean>;
  put(key: string, body: Uint8Array): Promise<void>;
}

function resolveKey(root: string, key: string): string {
  const file = path.resolve(root, key);
  // A key is always inside the root: `..` segments are a bug or an attack, never a file.
  if (!file.startsWith(path.resolve(root) + path.sep))
    throw new Error(`storage key escapes the root: ${key}`);
  return file;
}

/** Files under a local directory (the default for `npm start` and the tests). */
export function createLocalStorage(root: string): StorageDriver {
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
  };
}
