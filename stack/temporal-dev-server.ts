import { Connection } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../workflows/contracts.ts';
import { resolveBinary } from './binaries.ts';
import { spawnManaged, waitFor, type ManagedProcess } from './processes.ts';

export interface DevServerOptions {
  port: number;
  /** The Web UI port, or null for a headless server (tests). */
  uiPort: number | null;
  /** A SQLite file that keeps state across restarts; in memory when omitted. */
  dbFile?: string;
  namespace?: string;
  /** Where the Web UI decodes payloads (the api's `/codec`); the UI calls it from the browser. */
  uiCodecEndpoint?: string;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` with the project's search attributes registered, and
 * resolves once it answers on its gRPC port.
 */
export async function startTemporalDevServer(options: DevServerOptions): Promise<DevServer> {
  const temporal = await resolveBinary('temporal');
  const namespace = options.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...(options.uiPort === null ? ['--headless'] : ['--ui-port', String(options.uiPort)]),
    ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
    ...(options.uiCodecEndpoint && options.uiPort !== null
      ? ['--ui-codec-endpoint', options.uiCodecEndpoint]
      : []),
    ...SEARCH_ATTRIBUTE_REGISTRATIONS.flatMap(({ name, type }) => [
      '--search-attribute',
      `${name}=${type}`,
    ]),
  ];
  // The Temporal server reads OTEL_* too (and refuses OTEL_TRACES_EXPORTER=console): the
  // service's tracing settings are not the dev server's.
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')),
  );
  const server = spawnManaged(temporal, args, { env });
  const address = `127.0.0.1:${options.port}`;
  try {
    await waitFor(
      `Temporal dev server on ${address}`,
      async () => {
        const connection = await Connection.connect({ address, connectTimeout: 1_000 });
        try {
          await connection.workflowService.describeNamespace({ namespace });
          return true;
        } finally {
          await connection.close();
        }
      },
      { abort: () => server.exitReason() },
    );
  } catch (error) {
    await server.stop();
    throw error;
  }
  return {
    address,
    uiUrl: options.uiPort === null ? null : `http://localhost:${options.uiPort}`,
    process: server,
    stop: () => server.stop(),
  };
}
