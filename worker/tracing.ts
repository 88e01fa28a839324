import { createRequire } from 'node:module';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker/index.js';
import type { OpenTelemetryWorkflowExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions.js';
import { currentTracing } from '../observability/tracing.ts';

const require = createRequire(import.meta.url);

/**
 * The workflow interceptors every bundle carries (`npm run build:workflows`, the test and bench
 * bundles, a worker bundling at start): Temporal's OpenTelemetry workflow interceptors, which
 * continue the starter's trace in the workflow and hand it on to each activity. They run in
 * the sandbox and send finished spans out through the `exporter` sink (`tracingWorkerOptions`).
 */
export const workflowInterceptorModules: string[] = [
  require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors'),
];

/**
 * What a worker with a bundle registers for tracing: the activity interceptors (each activity
 * runs in a span continuing the workflow's trace, so its database, storage, email and Stripe
 * spans are children) and the sink the bundled workflow interceptors export through — into
 * this process's span processor, or nowhere with tracing off. Always registered: the bundle
 * calls the sink either way. A worker that bundles at start adds `workflowInterceptorModules`
 * as `interceptors.workflowModules`.
 */
export function tracingWorkerOptions(): {
  interceptors: WorkerInterceptors;
  sinks: InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }>;
} {
  const tracing = currentTracing();
  return {
    interceptors: {
      activity: [
        (ctx) => ({
          inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
          outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
        }),
      ],
    },
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}
