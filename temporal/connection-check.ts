import net from 'node:net';
import tls from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import type { TemporalSettingNames } from '../config/temporal-connection.ts';
import { withinTimeout, type TemporalTarget } from './client.ts';

/** Why a connection to Temporal failed, and whether waiting can fix it. */
export interface TemporalProblem {
  /** true: nothing answers yet (down, restarting, DNS not ready); false: fix a setting. */
  retryable: boolean;
  /** Starts with the setting to fix when there is one: `TEMPORAL_API_KEY: the server …`. */
  message: string;
}

/** The server answered and refused this configuration: waiting will not help. */
export class TemporalConnectionRefused extends Error {
  override name = 'TemporalConnectionRefused';
}

export type ConnectionLog = (
  level: 'info' | 'warn' | 'error',
  msg: string,
  fields: Record<string, unknown>,
) => void;

export const jsonLineLog: ConnectionLog = (level, msg, fields) =>
  console[level === 'info' ? 'log' : level](JSON.stringify({ level, msg, ...fields }));

const DEFAULT_NAMES: TemporalSettingNames = {
  address: 'TEMPORAL_ADDRESS',
  namespace: 'TEMPORAL_NAMESPACE',
  apiKey: 'TEMPORAL_API_KEY',
  tls: 'TEMPORAL_TLS',
  clientCert: 'TEMPORAL_TLS_CLIENT_CERT_PATH',
  clientKey: 'TEMPORAL_TLS_CLIENT_KEY_PATH',
  serverCaCert: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  serverName: 'TEMPORAL_TLS_SERVER_NAME',
};

/** Every message and status code along an error's cause chain (client and native errors differ). */
function describeError(error: unknown): { text: string; codes: number[] } {
  const parts: string[] = [];
  const codes: number[] = [];
  for (let current = error, depth = 0; current && depth < 5; depth += 1) {
    const { message, details, code, cause } = current as {
      message?: unknown;
      details?: unknown;
      code?: unknown;
      cause?: unknown;
    };
    for (const part of [message, details]) if (typeof part === 'string') parts.push(part);
    if (typeof code === 'number') codes.push(code);
    current = cause;
  }
  if (parts.length === 0) parts.push(String(error));
  return { text: parts.join(' | '), codes };
}

interface Context {
  names: TemporalSettingNames;
  where: string;
  tlsOn: boolean;
  clientCert: boolean;
  serverCa: boolean;
  tlsBecause: string;
}

function context(target: TemporalTarget): Context {
  const names = target.settingNames ?? DEFAULT_NAMES;
  const tlsOn = target.tls !== undefined && target.tls !== false;
  const options = typeof target.tls === 'object' ? target.tls : null;
  return {
    names,
    where: `the Temporal server at ${target.address} (${names.address})`,
    tlsOn,
    clientCert: Boolean(options?.clientCertPair),
    serverCa: Boolean(options?.serverRootCACertificate),
    tlsBecause:
      target.apiKey !== undefined && target.tls === true
        ? `${names.tls}, or ${names.apiKey} which turns TLS on`
        : names.tls,
  };
}

const refused = (message: string): TemporalProblem => ({ retryable: false, message });
const unavailable = (message: string): TemporalProblem => ({ retryable: true, message });

/**
 * What a failed call says about the configuration, judged from the error alone (gRPC status,
 * the HTTP status a TLS terminator answered with, the native connection's TLS error); null
 * when the error does not tell (the client's "failed to connect before the deadline").
 */
export function explainTemporalError(
  error: unknown,
  target: TemporalTarget,
): TemporalProblem | null {
  const { text, codes } = describeError(error);
  const c = context(target);
  const { names } = c;
  const credentials =
    target.apiKey !== undefined ? names.apiKey : c.clientCert ? names.clientCert : null;
  if (codes.includes(16) || /\b401\b|UNAUTHENTICATED|Unauthenticated/.test(text)) {
    return refused(
      target.apiKey !== undefined
        ? `${names.apiKey}: ${c.where} rejected the API key (UNAUTHENTICATED)`
        : c.clientCert
          ? `${names.clientCert}: ${c.where} did not accept the client certificate (UNAUTHENTICATED)`
          : `${names.apiKey}: ${c.where} requires credentials (UNAUTHENTICATED): set ${names.apiKey}, or ${names.clientCert} and ${names.clientKey}`,
    );
  }
  if (codes.includes(7) || /\b403\b|PERMISSION_DENIED|PermissionDenied/.test(text)) {
    return refused(
      `${credentials ?? names.apiKey}: ${c.where} does not let these credentials use namespace "${target.namespace}" (${names.namespace}) (PERMISSION_DENIED)`,
    );
  }
  if ((codes.includes(5) && /namespace/i.test(text)) || /Namespace .* not found/i.test(text)) {
    return refused(
      `${names.namespace}: namespace "${target.namespace}" does not exist on ${c.where}`,
    );
  }
  if (/\b400\b/.test(text) && /HTTP status|status: 400|Bad Request/.test(text) && c.tlsOn) {
    return refused(
      c.clientCert
        ? `${names.clientCert}: ${c.where} refused the client certificate (HTTP 400 from its TLS terminator: the certificate is not signed by a CA it trusts)`
        : `${names.clientCert}: ${c.where} requires a client certificate (HTTP 400 from its TLS terminator); set ${names.clientCert} and ${names.clientKey}`,
    );
  }
  const native = /InvalidCertificate\((\w+)/.exec(text);
  if (native) {
    if (native[1] === 'NotValidForName' || native[1] === 'NotValidForNameContext') {
      const detail = /expected: ([^}]+?\)), presented: (\[[^\]]*\])/.exec(text);
      return refused(
        `${names.serverName}: the certificate of ${c.where} is not valid for the name checked${detail ? ` (expected ${detail[1]}, presented ${detail[2]})` : ''}`,
      );
    }
    if (native[1] === 'Expired' || native[1] === 'ExpiredContext')
      return refused(`${names.address}: the certificate of ${c.where} has expired`);
    return refused(
      `${names.serverCaCert}: the certificate of ${c.where} is not signed by ${c.serverCa ? `the CA in ${names.serverCaCert}` : 'a CA this system trusts'} (${native[1]})`,
    );
  }
  if (
    /AlertReceived\((CertificateRequired|BadCertificate|UnknownCA|CertificateUnknown|AccessDenied|HandshakeFailure)/.test(
      text,
    )
  ) {
    return refused(
      c.clientCert
        ? `${names.clientCert}: ${c.where} refused the client certificate (TLS alert)`
        : `${names.clientCert}: ${c.where} requires a client certificate (TLS alert); set ${names.clientCert} and ${names.clientKey}`,
    );
  }
  if (c.tlsOn && /InvalidContentType|InvalidMessage|CorruptMessage|wrong version number/.test(text))
    return refused(`${names.tls}: ${c.where} does not speak TLS, but TLS is on (${c.tlsBecause})`);
  if (!c.tlsOn && /FRAME_SIZE_ERROR|GoAway/.test(text))
    return refused(
      `${names.tls}: ${c.where} speaks TLS; set ${names.tls}=true (and ${names.serverCaCert} for a private CA)`,
    );
  if (
    /ConnectionRefused|Connection refused|ECONNREFUSED|tcp connect error|dns error|failed to lookup|ENOTFOUND|EAI_AGAIN/i.test(
      text,
    )
  )
    return unavailable(
      `nothing answers at ${target.address} (${names.address}): ${text.split(' | ')[0]}`,
    );
  return null;
}

/** host and port of `host:port` or `[v6]:port`. */
function splitAddress(address: string): { host: string; port: number } {
  const v6 = /^\[([^\]]+)\]:(\d+)$/.exec(address);
  if (v6) return { host: v6[1]!, port: Number(v6[2]) };
  const at = address.lastIndexOf(':');
  return at > 0
    ? { host: address.slice(0, at), port: Number(address.slice(at + 1)) }
    : { host: address, port: 7233 };
}

const VERIFY_FAILURES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * Looks at the transport itself when the error did not say what failed: does anything answer
 * on the address, and does its TLS match ours? The same CA, client certificate and server name
 * the connection uses, through Node's own TLS, whose errors are precise.
 */
async function probeTransport(target: TemporalTarget): Promise<TemporalProblem | null> {
  const c = context(target);
  const { host, port } = splitAddress(target.address);
  const tcp = await new Promise<string | null>((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(3_000, () => {
      socket.destroy();
      resolve('no answer within 3 s');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  if (tcp) return unavailable(`nothing answers at ${target.address} (${c.names.address}): ${tcp}`);

  const options = typeof target.tls === 'object' ? target.tls : {};
  const servername = options.serverNameOverride ?? (net.isIP(host) ? undefined : host);
  const outcome = await new Promise<{ error: NodeJS.ErrnoException | null; handshake: boolean }>(
    (resolve) => {
      let handshake = false;
      const socket = tls.connect({
        host,
        port,
        ...(servername ? { servername } : {}),
        ...(options.serverRootCACertificate
          ? { ca: Buffer.from(options.serverRootCACertificate) }
          : {}),
        ...(options.clientCertPair
          ? {
              cert: Buffer.from(options.clientCertPair.crt),
              key: Buffer.from(options.clientCertPair.key),
            }
          : {}),
        ALPNProtocols: ['h2'],
        rejectUnauthorized: c.tlsOn,
      });
      const done = (error: NodeJS.ErrnoException | null) => {
        socket.destroy();
        resolve({ error, handshake });
      };
      socket.setTimeout(3_000, () => done(null));
      socket.once('error', done);
      socket.once('secureConnect', () => {
        handshake = true;
        // TLS 1.3 servers judge the client certificate after the handshake: speak HTTP/2 and
        // give a refusal (an alert) a moment to arrive.
        socket.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00');
        setTimeout(() => done(null), 500).unref();
      });
    },
  );
  if (!c.tlsOn) {
    return outcome.handshake
      ? refused(
          `${c.names.tls}: ${c.where} speaks TLS; set ${c.names.tls}=true (and ${c.names.serverCaCert} for a private CA)`,
        )
      : null;
  }
  const error = outcome.error;
  if (!error) return null;
  const code = error.code ?? '';
  if (VERIFY_FAILURES.has(code))
    return refused(
      `${c.names.serverCaCert}: the certificate of ${c.where} is not signed by ${c.serverCa ? `the CA in ${c.names.serverCaCert}` : 'a CA this system trusts'} (${code})`,
    );
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID')
    return refused(
      `${c.names.serverName}: the certificate of ${c.where} is not valid for ${servername ?? host} (${error.message})`,
    );
  if (code === 'CERT_HAS_EXPIRED')
    return refused(`${c.names.address}: the certificate of ${c.where} has expired`);
  if (/alert/i.test(error.message))
    return refused(
      c.clientCert
        ? `${c.names.clientCert}: ${c.where} refused the client certificate (${error.message})`
        : `${c.names.clientCert}: ${c.where} requires a client certificate (${error.message}); set ${c.names.clientCert} and ${c.names.clientKey}`,
    );
  if (!outcome.handshake)
    return refused(
      `${c.names.tls}: ${c.where} does not speak TLS, but TLS is on (${c.tlsBecause}): ${error.message}`,
    );
  return null;
}

/** Explains a failed connection or call: from the error when it tells, else from the transport. */
export async function diagnoseTemporalConnection(
  error: unknown,
  target: TemporalTarget,
): Promise<TemporalProblem> {
  const explained = explainTemporalError(error, target);
  if (explained) return explained;
  const probed = await probeTransport(target).catch(() => null);
  if (probed) return probed;
  const { text } = describeError(error);
  return unavailable(
    `${context(target).where} did not answer: ${text.split(' | ').slice(0, 2).join(': ')}`,
  );
}

/**
 * Runs `attempt` until it succeeds, backing off from 1 s to 30 s while Temporal does not answer
 * and logging each wait with what it waits for; throws `TemporalConnectionRefused` at once when
 * the server answers and refuses the configuration (wrong key, certificate, namespace).
 */
export async function waitForTemporal<T>(
  attempt: () => Promise<T>,
  target: TemporalTarget,
  {
    log = jsonLineLog,
    signal,
    initialDelayMs = 1_000,
    maxDelayMs = 30_000,
    onWait,
  }: {
    log?: ConnectionLog;
    signal?: AbortSignal;
    initialDelayMs?: number;
    maxDelayMs?: number;
    /** Hears each failed attempt's diagnosis (health endpoints show it). */
    onWait?: (problem: TemporalProblem) => void;
  } = {},
): Promise<T> {
  for (let attemptNumber = 1; ; attemptNumber += 1) {
    try {
      return await attempt();
    } catch (error) {
      signal?.throwIfAborted();
      const problem = await diagnoseTemporalConnection(error, target);
      onWait?.(problem);
      if (!problem.retryable)
        throw new TemporalConnectionRefused(problem.message, { cause: error });
      // Exponential, capped, ±20 %: a fleet restarted together does not knock in step.
      const delayMs =
        Math.min(maxDelayMs, initialDelayMs * 2 ** (attemptNumber - 1)) *
        (0.8 + Math.random() * 0.4);
      log('warn', 'waiting for Temporal', {
        address: target.address,
        namespace: target.namespace,
        attempt: attemptNumber,
        retryInSeconds: Math.round(delayMs / 100) / 10,
        reason: problem.message,
      });
      await sleep(delayMs, undefined, signal ? { signal } : {});
    }
  }
}

/** What a process knows about its Temporal connection, for its health endpoints. */
export interface TemporalHealth {
  state: 'connecting' | 'connected' | 'unavailable' | 'refused';
  address: string;
  namespace: string;
  /** Since when the state holds (ISO time). */
  since: string;
  /** Why it is not connected. */
  problem?: string;
}

export interface TemporalMonitor {
  health(): TemporalHealth;
  stop(): void;
}

/**
 * Checks `check` (a cheap call such as DescribeNamespace) now and then and keeps the answer for
 * the health endpoints, logging each change: every 10 s while connected, backing off up to 30 s
 * while not. `onRefused` hears a refused configuration, with whether Temporal ever answered.
 */
export function monitorTemporal(
  check: () => Promise<unknown>,
  target: TemporalTarget,
  {
    log = jsonLineLog,
    intervalMs = 10_000,
    timeoutMs = 5_000,
    onRefused,
  }: {
    log?: ConnectionLog;
    intervalMs?: number;
    timeoutMs?: number;
    onRefused?: (problem: TemporalProblem, everConnected: boolean) => void;
  } = {},
): TemporalMonitor {
  let current: TemporalHealth = {
    state: 'connecting',
    address: target.address,
    namespace: target.namespace,
    since: new Date().toISOString(),
  };
  let everConnected = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  const set = (state: TemporalHealth['state'], problem?: string) => {
    if (current.state === state && current.problem === problem) return;
    current = {
      state,
      address: target.address,
      namespace: target.namespace,
      since: new Date().toISOString(),
      ...(problem ? { problem } : {}),
    };
    if (state === 'connected')
      log('info', 'Temporal connected', { address: target.address, namespace: target.namespace });
    else
      log(state === 'refused' ? 'error' : 'warn', `Temporal ${state}`, {
        address: target.address,
        namespace: target.namespace,
        reason: problem,
      });
  };
  const tick = async () => {
    try {
      await withinTimeout(check(), timeoutMs, 'Temporal');
      everConnected = true;
      failures = 0;
      set('connected');
    } catch (error) {
      failures += 1;
      const problem = await diagnoseTemporalConnection(error, target);
      set(problem.retryable ? 'unavailable' : 'refused', problem.message);
      if (!problem.retryable) onRefused?.(problem, everConnected);
    }
    if (stopped) return;
    const delay = failures === 0 ? intervalMs : Math.min(30_000, 1_000 * 2 ** (failures - 1));
    timer = setTimeout(() => void tick(), delay);
    timer.unref();
  };
  void tick();
  return {
    health: () => current,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
