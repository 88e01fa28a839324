// A secured Temporal on this machine: Debian's nginx as a TLS-terminating gRPC proxy in front of
// a dev server, the way Temporal Cloud or a secured cluster looks to a client — mTLS (a client
// certificate signed by the proxy's CA) or an API key (`Authorization: Bearer …`). The
// certificates are made here with the openssl CLI; everything binds 127.0.0.1.
import { execFileSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { getFreePort, spawnManaged, waitFor, type ManagedProcess } from './processes.ts';

export interface CertificatePair {
  cert: string;
  key: string;
}

/** PEM files: two CAs, a server certificate for 127.0.0.1/localhost, clients of each CA. */
export interface TestCertificates {
  ca: CertificatePair;
  /** A CA nobody trusts: a client or server certificate it signed must be refused. */
  otherCa: CertificatePair;
  server: CertificatePair;
  client: CertificatePair;
  /** A client certificate signed by `otherCa`. */
  rogueClient: CertificatePair;
}

const openssl = (args: string[], cwd: string) =>
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });

/** Makes the certificates in `dir` (valid two days, P-256 keys). */
export function generateTestCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  const pair = (name: string): CertificatePair => ({
    cert: path.join(dir, `${name}.pem`),
    key: path.join(dir, `${name}.key`),
  });
  const makeCa = (name: string): CertificatePair => {
    const files = pair(name);
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        files.key,
        '-out',
        files.cert,
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
      ],
      dir,
    );
    return files;
  };
  const makeLeaf = (name: string, issuer: CertificatePair, altNames: string): CertificatePair => {
    const files = pair(name);
    const csr = path.join(dir, `${name}.csr`);
    const extensions = path.join(dir, `${name}.ext`);
    writeFileSync(extensions, `subjectAltName=${altNames}\n`);
    openssl(
      [
        'req',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        files.key,
        '-out',
        csr,
        '-subj',
        `/CN=${name}`,
      ],
      dir,
    );
    openssl(
      [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        issuer.cert,
        '-CAkey',
        issuer.key,
        '-CAcreateserial',
        '-out',
        files.cert,
        '-days',
        '2',
        '-extfile',
        extensions,
      ],
      dir,
    );
    return files;
  };
  const rootCa = makeCa('ca');
  const otherCa = makeCa('other-ca');
  return {
    ca: rootCa,
    otherCa,
    server: makeLeaf('server', rootCa, 'DNS:localhost,IP:127.0.0.1'),
    client: makeLeaf('client', rootCa, 'DNS:fulfillment-worker'),
    rogueClient: makeLeaf('rogue-client', otherCa, 'DNS:rogue'),
  };
}

/** Debian's nginx: on PATH, or where the package puts it (/usr/sbin is not on every PATH). */
function resolveNginx(): string {
  const candidates = [
    ...(process.env['PATH'] ?? '').split(path.delimiter).map((dir) => path.join(dir, 'nginx')),
    '/usr/sbin/nginx',
  ];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error('nginx not found: install Debian’s nginx package (apt-get install -y nginx)');
}

export interface GrpcTlsProxy {
  /** `127.0.0.1:<port>`: what TEMPORAL_ADDRESS should be. */
  address: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts nginx terminating TLS on a free 127.0.0.1 port and passing gRPC to `upstream`:
 * `mtls` requires a client certificate signed by `certificates.ca`; `apiKey` requires
 * `Authorization: Bearer <apiKey>` (401 otherwise). Long polls run a minute and more, so the
 * proxy's gRPC timeouts are five minutes (a production proxy needs the same).
 */
export async function startGrpcTlsProxy(options: {
  upstream: string;
  dir: string;
  certificates: TestCertificates;
  auth: { kind: 'mtls' } | { kind: 'api-key'; apiKey: string };
}): Promise<GrpcTlsProxy> {
  const nginx = resolveNginx();
  const port = await getFreePort();
  const prefix = path.join(options.dir, `nginx-${port}`);
  const temp = path.join(prefix, 'temp');
  mkdirSync(temp, { recursive: true });
  // Run as root, nginx's workers drop to an unprivileged user: let them write their temp files.
  chmodSync(temp, 0o777);
  const { server, ca } = options.certificates;
  const authentication =
    options.auth.kind === 'mtls'
      ? `ssl_client_certificate ${ca.cert};\n    ssl_verify_client on;`
      : '';
  const apiKeyCheck =
    options.auth.kind === 'api-key'
      ? `if ($http_authorization != "Bearer ${options.auth.apiKey}") { return 401; }`
      : '';
  const config = path.join(prefix, 'nginx.conf');
  writeFileSync(
    config,
    `daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${temp}/body;
  proxy_temp_path ${temp}/proxy;
  fastcgi_temp_path ${temp}/fastcgi;
  uwsgi_temp_path ${temp}/uwsgi;
  scgi_temp_path ${temp}/scgi;
  server {
    listen 127.0.0.1:${port} ssl http2;
    ssl_certificate ${server.cert};
    ssl_certificate_key ${server.key};
    ${authentication}
    client_max_body_size 8m;
    location / {
      ${apiKeyCheck}
      grpc_read_timeout 300s;
      grpc_send_timeout 300s;
      grpc_pass grpc://${options.upstream};
    }
  }
}
`,
  );
  const child = spawnManaged(nginx, ['-p', prefix, '-c', config, '-e', `${prefix}/error.log`]);
  const address = `127.0.0.1:${port}`;
  try {
    await waitFor(
      `nginx gRPC proxy on ${address}`,
      () =>
        new Promise<boolean>((resolve) => {
          const socket = net.connect({ host: '127.0.0.1', port });
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(false));
        }),
      { abort: () => child.exitReason(), timeoutMs: 20_000 },
    );
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { address, process: child, stop: () => child.stop() };
}
