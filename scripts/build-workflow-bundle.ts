// `npm run build:workflows [-- --out <file>]`: bundles workflows/ once, the way the worker would
// at start-up, into a file production workers load through WORKFLOW_BUNDLE_PATH (the Dockerfile's
// build stage runs it). A worker then starts in a second instead of bundling with webpack on
// every start, and every replica runs byte-identical workflow code.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode } from '@temporalio/worker';
import { failureConverterPath } from '../temporal/data-converter.ts';
import { workflowsPath } from '../worker/worker.ts';
import { workflowInterceptorModules } from '../worker/tracing.ts';

/** Where `npm run build:workflows` writes by default (git-ignored build output). */
const DEFAULT_WORKFLOW_BUNDLE_PATH = 'dist/workflow-bundle.js';

const { values } = parseArgs({
  options: { out: { type: 'string', default: DEFAULT_WORKFLOW_BUNDLE_PATH } },
});
const out = path.resolve(values.out);

const noop = (): void => undefined;
const bundle = await bundleWorkflowCode({
  workflowsPath,
  // Failures the workflows raise are encoded like the worker's (the codec then encrypts them).
  failureConverterPath,
  // The workflows continue their starter's trace (OpenTelemetry workflow interceptors).
  workflowInterceptorModules,
  // webpack's progress chatter is noise in a build log; errors still surface as exceptions.
  logger: {
    trace: noop,
    debug: noop,
    info: noop,
    warn: console.warn,
    error: console.error,
    log: noop,
  },
});
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, bundle.code);
console.log(`workflow bundle: ${out} (${Math.round(bundle.code.length / 1024)} KiB)`);
