import { rmSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath as productionFailureConverterPath } from '../temporal/data-converter.ts';
import { workflowsPath as fulfillmentWorkflowsPath } from '../worker/worker.ts';
import { workflowInterceptorModules } from '../worker/tracing.ts';

/** The repository's root folder: where `scripts/`, `workflows/` and `test/histories/` are. */
export const REPO_ROOT = fileURLToPath(new URL('../', import.meta.url));

const noop = (): void => undefined;
/** webpack's progress chatter is noise next to a run's own lines; errors still surface. */
export const quietBundlerLogger = {
  trace: noop,
  debug: noop,
  info: noop,
  warn: noop,
  error: console.error,
  log: noop,
};

export interface WorkflowBundleOptions {
  /** The workflows' entry file; the fulfillment workflows (`workflows/index.ts`) by default. */
  workflowsPath?: string;
  /**
   * Failures encoded like the worker's; the fulfillment bundle gets the production converter
   * (as `npm run build:workflows` bundles it) unless another entry is bundled.
   */
  failureConverterPath?: string;
}

/**
 * Bundles workflows as a worker would at start and writes the bundle to `file`, for a worker
 * to load through WORKFLOW_BUNDLE_PATH (`workflowBundle.codePath`). Returns `file`.
 */
export async function writeWorkflowBundle(
  file: string,
  options: WorkflowBundleOptions = {},
): Promise<string> {
  const failureConverterPath =
    options.failureConverterPath ??
    (options.workflowsPath ? undefined : productionFailureConverterPath);
  const bundle = await bundleWorkflowCode({
    workflowsPath: options.workflowsPath ?? fulfillmentWorkflowsPath,
    ...(failureConverterPath ? { failureConverterPath } : {}),
    // Every bundle traces as production's does (worker/tracing.ts registers the sink).
    workflowInterceptorModules,
    logger: quietBundlerLogger,
  });
  await writeFile(file, bundle.code);
  return file;
}

let sharedBundle: Promise<string> | null = null;

/**
 * One fulfillment workflow bundle for the whole process (built on first use, removed at exit),
 * as production workers load a prebuilt bundle: a worker restarted after a SIGKILL polls again
 * in seconds.
 */
export function prebuiltWorkflowBundle(): Promise<string> {
  sharedBundle ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'fulfillment-workflow-bundle-'));
    // An exit handler runs synchronously: an async rm would never finish.
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return writeWorkflowBundle(path.join(dir, 'workflow-bundle.js'));
  })();
  return sharedBundle;
}
