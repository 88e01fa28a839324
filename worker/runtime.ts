import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';

/**
 * Installs the Temporal SDK runtime once per process: log lines at `level` and above (the
 * bundler's build report is INFO), and no signal handlers of its own — each entry point orders
 * its own shutdown (stop taking requests, then drain the worker).
 */
let installed = false;

export function installTemporalRuntime(
  level: LogLevel = 'WARN',
  /** `host:port` for the SDK's own Prometheus exporter (temporal_* metrics); the worker's /metrics proxies it. */
  metricsBindAddress?: string,
): void {
  if (installed) return;
  Runtime.install({
    logger: new DefaultLogger(level),
    shutdownSignals: [],
    ...(metricsBindAddress
      ? {
          telemetryOptions: {
            metrics: {
              prometheus: {
                bindAddress: metricsBindAddress,
                // Prometheus conventions: counters end in _total, durations are in seconds.
                countersTotalSuffix: true,
                useSecondsForDurations: true,
              },
            },
          },
        }
      : {}),
  });
  installed = true;
}
