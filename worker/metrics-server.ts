import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Db } from '../db/database.ts';
import { processRegistry, registerJobMetrics } from '../observability/metrics.ts';

export interface WorkerMetricsServer {
  url: string;
  close(): Promise<void>;
}

/**
 * The worker's `GET /metrics` (Prometheus text): what this process counted (email sends,
 * payment-to-receipt latency, failed jobs, analytics exports…), the job gauges read from
 * Postgres (only the worker exports them),
 * Node's process metrics, and the Temporal SDK's own metrics (`temporal_*`) fetched from the
 * SDK exporter at `temporalMetricsAddress` (installTemporalRuntime), so one scrape target
 * carries everything.
 */
export async function startWorkerMetricsServer({
  db,
  port,
  host = '127.0.0.1',
  temporalMetricsAddress,
}: {
  db: Db;
  port: number;
  host?: string;
  temporalMetricsAddress?: string | undefined;
}): Promise<WorkerMetricsServer> {
  const local = new Registry();
  collectDefaultMetrics({ register: local });
  registerJobMetrics(local, db);

  async function temporalMetrics(): Promise<string> {
    if (!temporalMetricsAddress) return '';
    try {
      const response = await fetch(`http://${temporalMetricsAddress}/metrics`, {
        signal: AbortSignal.timeout(2_000),
      });
      if (!response.ok) return `# temporal sdk metrics unavailable: HTTP ${response.status}\n`;
      return await response.text();
    } catch (error) {
      return `# temporal sdk metrics unavailable: ${String(error).replaceAll('\n', ' ')}\n`;
    }
  }

  const server = http.createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    Promise.all([processRegistry.metrics(), local.metrics(), temporalMetrics()]).then(
      (parts) => {
        response
          .writeHead(200, { 'content-type': local.contentType })
          .end(parts.map((part) => (part.endsWith('\n') || !part ? part : `${part}\n`)).join(''));
      },
      (error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host}:${address.port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * Where the Temporal SDK's exporter binds in a worker process: `TEMPORAL_METRICS_ADDRESS`,
 * unless the worker's /metrics is off (WORKER_METRICS_PORT=0) or the address is empty.
 */
export function temporalMetricsBindAddress(config: {
  WORKER_METRICS_PORT: number;
  TEMPORAL_METRICS_ADDRESS: string;
}): string | undefined {
  return config.WORKER_METRICS_PORT > 0 && config.TEMPORAL_METRICS_ADDRESS
    ? config.TEMPORAL_METRICS_ADDRESS
    : undefined;
}
