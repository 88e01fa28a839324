import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { Db } from '../db/database.ts';
import { processRegistry, registerJobMetrics } from '../observability/metrics.ts';
import type {
  TemporalHealth,
  TemporalMonitor,
  TemporalProblem,
} from '../temporal/connection-check.ts';
import type { TemporalTarget } from '../temporal/client.ts';

/**
 * What the worker is doing, for `GET /healthz` (alive: always 200 while the process answers) and
 * `GET /readyz` (200 once it polls; 503 while it waits for Temporal or drains): the phase and
 * the Temporal connection — while waiting, the reason it does not connect; while polling, what
 * the periodic check last saw.
 */
export class WorkerHealth {
  #phase: 'waiting for Temporal' | 'polling' | 'draining' = 'waiting for Temporal';
  #temporal: TemporalHealth;
  #monitor: TemporalMonitor | null = null;
  readonly #target: Pick<TemporalTarget, 'address' | 'namespace'>;

  constructor(target: Pick<TemporalTarget, 'address' | 'namespace'>) {
    this.#target = target;
    this.#temporal = {
      state: 'connecting',
      address: target.address,
      namespace: target.namespace,
      since: new Date().toISOString(),
    };
  }

  /** A failed attempt to connect: the worker waits and tries again. */
  waiting(problem: TemporalProblem): void {
    if (this.#temporal.problem === problem.message) return;
    this.#temporal = {
      state: problem.retryable ? 'unavailable' : 'refused',
      address: this.#target.address,
      namespace: this.#target.namespace,
      since: new Date().toISOString(),
      problem: problem.message,
    };
  }

  /** The worker polls; `monitor` keeps checking the connection from now on. */
  polling(monitor: TemporalMonitor): void {
    this.#phase = 'polling';
    this.#monitor = monitor;
  }

  draining(): void {
    this.#phase = 'draining';
  }

  readiness(): { ready: boolean; body: Record<string, unknown> } {
    const ready = this.#phase === 'polling';
    return {
      ready,
      body: {
        status: ready ? 'ready' : 'not ready',
        phase: this.#phase,
        temporal: this.#monitor?.health() ?? this.#temporal,
      },
    };
  }
}

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
 * carries everything. With `health`, also `GET /healthz` and `GET /readyz` (`WorkerHealth`): the
 * orchestrator's probes.
 */
export async function startWorkerMetricsServer({
  db,
  port,
  host = '127.0.0.1',
  temporalMetricsAddress,
  health,
}: {
  db: Db;
  port: number;
  host?: string;
  temporalMetricsAddress?: string | undefined;
  health?: WorkerHealth;
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
    const path = request.url?.split('?')[0];
    if (health && request.method === 'GET' && (path === '/healthz' || path === '/readyz')) {
      const { ready, body } = health.readiness();
      const code = path === '/healthz' || ready ? 200 : 503;
      response
        .writeHead(code, { 'content-type': 'application/json' })
        .end(JSON.stringify(path === '/healthz' ? { ...body, status: 'ok' } : body));
      return;
    }
    if (request.method !== 'GET' || path !== '/metrics') {
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
