import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TLSConfig } from '@temporalio/client';
import {
  loadClientConfigProfile,
  toClientOptions,
  type ClientConfigProfile,
  type ConfigDataSource,
} from '@temporalio/envconfig';

/**
 * Which setting each part of the connection came from — an environment variable, or a key of a
 * `temporal.toml` profile — so that an error says what to fix.
 */
export interface TemporalSettingNames {
  address: string;
  namespace: string;
  apiKey: string;
  tls: string;
  clientCert: string;
  clientKey: string;
  serverCaCert: string;
  serverName: string;
}

/** How every client, worker and the operator CLI connect to Temporal. */
export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  /** TLS options (certificates read), `true` for TLS with the system's roots, or none. */
  tls?: TLSConfig | boolean;
  /** gRPC headers from `TEMPORAL_GRPC_META_*` or the profile's `grpc_meta`. */
  metadata?: Record<string, string>;
  settingNames: TemporalSettingNames;
  /** The profile read (`TEMPORAL_PROFILE`, else `default`) and the file it came from, if any. */
  profile: string;
  configFile: string | null;
}

const DEFAULT_ADDRESS = 'localhost:7233';
const DEFAULT_NAMESPACE = 'default';

/** Where the Temporal CLI and SDKs look for `temporal.toml` when TEMPORAL_CONFIG_FILE is unset. */
function defaultConfigFile(env: NodeJS.ProcessEnv): string | null {
  if (os.platform() === 'win32')
    return env['APPDATA'] ? path.join(env['APPDATA'], 'temporalio', 'temporal.toml') : null;
  const base =
    os.platform() === 'darwin'
      ? env['HOME'] && path.join(env['HOME'], 'Library', 'Application Support')
      : env['XDG_CONFIG_HOME'] && path.isAbsolute(env['XDG_CONFIG_HOME'])
        ? env['XDG_CONFIG_HOME']
        : env['HOME'] && path.join(env['HOME'], '.config');
  return base ? path.join(base, 'temporalio', 'temporal.toml') : null;
}

const bool = (value: string | undefined) =>
  value === undefined ? undefined : value === 'true' || value === '1';

/**
 * Resolves the Temporal connection the way Temporal's CLI and SDKs do (`@temporalio/envconfig`):
 * a profile of `temporal.toml` (`TEMPORAL_PROFILE`, default `default`, from `TEMPORAL_CONFIG_FILE`
 * or the user's config folder) overridden by `TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`,
 * `TEMPORAL_API_KEY`, `TEMPORAL_TLS*` and `TEMPORAL_GRPC_META_*`. An empty `TEMPORAL_CONFIG_FILE`
 * reads no file. Certificates and keys are read and checked here, so a start-up stops naming the
 * setting that holds a missing file, something that is not PEM, an expired certificate or a key
 * that does not belong to its certificate. Returns the problems instead of throwing, so
 * `loadConfig` names them together with every other variable.
 */
export function resolveTemporalConnection(
  env: NodeJS.ProcessEnv,
  now = new Date(),
): { settings: TemporalConnectionSettings | null; problems: string[] } {
  const problems: string[] = [];
  const explicitFile = env['TEMPORAL_CONFIG_FILE'];
  const configFile = explicitFile === '' ? null : (explicitFile ?? defaultConfigFile(env));
  const fileExists = configFile !== null && existsSync(configFile);
  if (explicitFile && !fileExists)
    problems.push(`  - TEMPORAL_CONFIG_FILE: ${explicitFile} does not exist`);
  const profileName = env['TEMPORAL_PROFILE'] || 'default';
  const inFile = (key: string) =>
    `${key} (profile "${profileName}" in ${configFile ?? 'temporal.toml'})`;
  if (env['TEMPORAL_PROFILE'] && !fileExists && !explicitFile)
    problems.push(
      `  - TEMPORAL_PROFILE: profile "${profileName}" asked for, but there is no temporal.toml (set TEMPORAL_CONFIG_FILE)`,
    );
  if (problems.length > 0) return { settings: null, problems };

  // Only the variables envconfig reads, so nothing else of the environment can leak in.
  const overrideEnvVars = Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] =>
        entry[1] !== undefined && entry[1] !== '' && /^TEMPORAL_/.test(entry[0]),
    ),
  );
  let profile: ClientConfigProfile;
  try {
    profile = loadClientConfigProfile({
      ...(env['TEMPORAL_PROFILE'] ? { profile: env['TEMPORAL_PROFILE'] } : {}),
      ...(fileExists ? { configSource: { path: configFile } } : { disableFile: true }),
      overrideEnvVars,
    });
  } catch (error) {
    const message = (error as Error).message;
    const setting = /Profile '.*' not found/.test(message)
      ? 'TEMPORAL_PROFILE'
      : /both (\w+)_path and \1_data/.test(message)
        ? inFile(`tls.${/both (\w+)_path/.exec(message)![1]}_path`)
        : `TEMPORAL_CONFIG_FILE (${configFile})`;
    return { settings: null, problems: [`  - ${setting}: ${message}`] };
  }

  const fromEnv = (names: string[], tomlKey: string): string =>
    names.find((name) => overrideEnvVars[name] !== undefined) ??
    (fileExists ? inFile(tomlKey) : names[0]!);
  const settingNames: TemporalSettingNames = {
    address: fromEnv(['TEMPORAL_ADDRESS'], 'address'),
    namespace: fromEnv(['TEMPORAL_NAMESPACE'], 'namespace'),
    apiKey: fromEnv(['TEMPORAL_API_KEY'], 'api_key'),
    tls: fromEnv(['TEMPORAL_TLS'], 'tls.disabled'),
    clientCert: fromEnv(
      ['TEMPORAL_TLS_CLIENT_CERT_PATH', 'TEMPORAL_TLS_CLIENT_CERT_DATA'],
      'tls.client_cert_path',
    ),
    clientKey: fromEnv(
      ['TEMPORAL_TLS_CLIENT_KEY_PATH', 'TEMPORAL_TLS_CLIENT_KEY_DATA'],
      'tls.client_key_path',
    ),
    serverCaCert: fromEnv(
      ['TEMPORAL_TLS_SERVER_CA_CERT_PATH', 'TEMPORAL_TLS_SERVER_CA_CERT_DATA'],
      'tls.server_ca_cert_path',
    ),
    serverName: fromEnv(['TEMPORAL_TLS_SERVER_NAME'], 'tls.server_name'),
  };
  const problem = (setting: string, message: string) => problems.push(`  - ${setting}: ${message}`);

  // The TypeScript SDK has no switch to skip the server name check: say so, rather than
  // silently verifying anyway.
  if (bool(env['TEMPORAL_TLS_DISABLE_HOST_VERIFICATION']))
    problem(
      'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
      'is not supported by the TypeScript SDK; set TEMPORAL_TLS_SERVER_NAME to a name the server certificate carries',
    );

  const tls = profile.tls && !profile.tls.disabled ? profile.tls : undefined;
  const read = (source: ConfigDataSource | undefined, setting: string): Buffer | null => {
    if (!source) return null;
    if ('data' in source) return Buffer.from(source.data);
    try {
      return readFileSync(source.path);
    } catch (error) {
      problem(setting, `cannot read ${source.path} (${(error as NodeJS.ErrnoException).code})`);
      return null;
    }
  };
  const certificate = (pem: Buffer, setting: string): X509Certificate | null => {
    try {
      const parsed = new X509Certificate(pem);
      if (new Date(parsed.validTo) < now)
        problem(setting, `the certificate expired on ${new Date(parsed.validTo).toISOString()}`);
      else if (new Date(parsed.validFrom) > now)
        problem(
          setting,
          `the certificate is not valid before ${new Date(parsed.validFrom).toISOString()}`,
        );
      return parsed;
    } catch {
      problem(setting, 'is not a PEM certificate');
      return null;
    }
  };
  if (tls) {
    const certPem = read(tls.clientCert, settingNames.clientCert);
    const keyPem = read(tls.clientKey, settingNames.clientKey);
    if (tls.clientCert && !tls.clientKey)
      problem(settingNames.clientKey, `is required with ${settingNames.clientCert}`);
    if (tls.clientKey && !tls.clientCert)
      problem(settingNames.clientCert, `is required with ${settingNames.clientKey}`);
    const cert = certPem && certificate(certPem, settingNames.clientCert);
    let key: KeyObject | null = null;
    if (keyPem) {
      try {
        key = createPrivateKey(keyPem);
      } catch {
        problem(settingNames.clientKey, 'is not a PEM private key');
      }
    }
    if (cert && key && !cert.checkPrivateKey(key))
      problem(
        settingNames.clientKey,
        `is not the private key of the certificate in ${settingNames.clientCert}`,
      );
    const caPem = read(tls.serverCACert, settingNames.serverCaCert);
    if (caPem) {
      const blocks = caPem
        .toString('utf8')
        .match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
      if (!blocks) problem(settingNames.serverCaCert, 'is not a PEM certificate');
      else for (const block of blocks) certificate(Buffer.from(block), settingNames.serverCaCert);
    }
  }
  if (problems.length > 0) return { settings: null, problems };

  const { connectionOptions, namespace } = toClientOptions(profile);
  // Profiles and TEMPORAL_GRPC_META_* only ever hold text headers.
  const metadata = profile.grpcMeta;
  return {
    settings: {
      address: connectionOptions.address ?? DEFAULT_ADDRESS,
      namespace: namespace ?? DEFAULT_NAMESPACE,
      ...(connectionOptions.apiKey !== undefined && typeof connectionOptions.apiKey === 'string'
        ? { apiKey: connectionOptions.apiKey }
        : {}),
      ...(connectionOptions.tls !== undefined && connectionOptions.tls !== null
        ? { tls: connectionOptions.tls }
        : {}),
      ...(metadata && Object.keys(metadata).length > 0 ? { metadata } : {}),
      settingNames,
      profile: profileName,
      configFile: fileExists ? configFile : null,
    },
    problems: [],
  };
}
