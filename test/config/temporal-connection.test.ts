import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../config/env.ts';
import { resolveTemporalConnection } from '../../config/temporal-connection.ts';
import { Cleanups, makeScratchDir } from '../../stack/cleanups.ts';
import { generateTestCertificates, type TestCertificates } from '../../stack/grpc-tls-proxy.ts';
import { testEnv } from '../helpers/stack.ts';

const cleanups = new Cleanups('temporal-connection test');
let dir: string;
let certs: TestCertificates;
beforeAll(async () => {
  dir = await makeScratchDir(cleanups, 'fulfillment-temporal-config-');
  certs = generateTestCertificates(path.join(dir, 'certs'));
});
afterAll(() => cleanups.runAll());

const resolve = (env: Record<string, string>, now?: Date) =>
  resolveTemporalConnection({ TEMPORAL_CONFIG_FILE: '', ...env }, now);

function profileFile(text: string): string {
  const file = path.join(dir, `temporal-${Math.random().toString(36).slice(2)}.toml`);
  writeFileSync(file, text);
  return file;
}

describe('the Temporal connection, read as Temporal’s CLI and SDKs read it', () => {
  it('defaults to a local plaintext server on namespace default', () => {
    const { settings, problems } = resolve({});
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({ address: 'localhost:7233', namespace: 'default' });
    expect(settings?.tls).toBeUndefined();
  });

  it('reads a temporal.toml profile, with TEMPORAL_* variables overriding it, and names where each part came from', () => {
    const file = profileFile(`[profile.prod]
address = "temporal.internal:7233"
namespace = "fulfillment"

[profile.prod.tls]
server_ca_cert_path = "${certs.ca.cert}"
client_cert_path = "${certs.client.cert}"
client_key_path = "${certs.client.key}"
`);
    const { settings, problems } = resolve({
      TEMPORAL_CONFIG_FILE: file,
      TEMPORAL_PROFILE: 'prod',
      TEMPORAL_NAMESPACE: 'fulfillment-staging',
    });
    expect(problems).toEqual([]);
    expect(settings).toMatchObject({
      address: 'temporal.internal:7233',
      namespace: 'fulfillment-staging',
      profile: 'prod',
      configFile: file,
    });
    const tls = settings?.tls as {
      clientCertPair?: { crt: Uint8Array };
      serverRootCACertificate?: Uint8Array;
    };
    expect(Buffer.from(tls.clientCertPair!.crt).toString()).toContain('BEGIN CERTIFICATE');
    expect(Buffer.from(tls.serverRootCACertificate!).toString()).toContain('BEGIN CERTIFICATE');
    expect(settings?.settingNames.namespace).toBe('TEMPORAL_NAMESPACE');
    expect(settings?.settingNames.clientCert).toBe(
      `tls.client_cert_path (profile "prod" in ${file})`,
    );
  });

  it('turns TLS on for an API key, and off again with TEMPORAL_TLS=false', () => {
    expect(() => loadConfig(testEnv({ TEMPORAL_TLS: 'maybe' }))).toThrow(
      /TEMPORAL_TLS: must be true or false/,
    );
    expect(resolve({ TEMPORAL_API_KEY: 'k' }).settings).toMatchObject({ apiKey: 'k', tls: true });
    expect(resolve({ TEMPORAL_API_KEY: 'k', TEMPORAL_TLS: 'false' }).settings?.tls).toBe(false);
  });

  it('names the setting of every file that is missing, not PEM, expired, or whose key does not fit', () => {
    const notPem = path.join(dir, 'not-a-certificate.pem');
    writeFileSync(notPem, 'hello\n');
    expect(
      resolve({
        TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'missing.pem'),
        TEMPORAL_TLS_CLIENT_KEY_PATH: certs.client.key,
        TEMPORAL_TLS_SERVER_CA_CERT_PATH: notPem,
      }).problems,
    ).toEqual([
      expect.stringMatching(
        /^ {2}- TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read .*missing\.pem \(ENOENT\)$/,
      ),
      '  - TEMPORAL_TLS_SERVER_CA_CERT_PATH: is not a PEM certificate',
    ]);
    expect(
      resolve({
        TEMPORAL_TLS_CLIENT_CERT_PATH: certs.client.cert,
        TEMPORAL_TLS_CLIENT_KEY_PATH: certs.rogueClient.key,
      }).problems,
    ).toEqual([
      '  - TEMPORAL_TLS_CLIENT_KEY_PATH: is not the private key of the certificate in TEMPORAL_TLS_CLIENT_CERT_PATH',
    ]);
    const inThreeDays = new Date(Date.now() + 3 * 86_400_000);
    expect(
      resolve(
        {
          TEMPORAL_TLS_CLIENT_CERT_PATH: certs.client.cert,
          TEMPORAL_TLS_CLIENT_KEY_PATH: certs.client.key,
        },
        inThreeDays,
      ).problems,
    ).toEqual([
      expect.stringMatching(/^ {2}- TEMPORAL_TLS_CLIENT_CERT_PATH: the certificate expired on /),
    ]);
    expect(resolve({ TEMPORAL_TLS_CLIENT_CERT_PATH: certs.client.cert }).problems).toEqual([
      '  - TEMPORAL_TLS_CLIENT_KEY_PATH: is required with TEMPORAL_TLS_CLIENT_CERT_PATH',
    ]);
  });

  it('refuses a profile that is not there, a config file that is not there, and host verification off', () => {
    const file = profileFile('[profile.default]\naddress = "x:7233"\n');
    expect(resolve({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'prod' }).problems).toEqual([
      expect.stringMatching(/^ {2}- TEMPORAL_PROFILE: Profile 'prod' not found/),
    ]);
    expect(resolve({ TEMPORAL_CONFIG_FILE: path.join(dir, 'nope.toml') }).problems).toEqual([
      expect.stringMatching(/^ {2}- TEMPORAL_CONFIG_FILE: .*nope\.toml does not exist$/),
    ]);
    expect(resolve({ TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: 'true' }).problems).toEqual([
      expect.stringMatching(/^ {2}- TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: is not supported/),
    ]);
  });

  it('stops loadConfig with one message naming every problem, never echoing a key', () => {
    const env = testEnv({
      TEMPORAL_CONFIG_FILE: '',
      TEMPORAL_API_KEY: 'secret-api-key-value',
      TEMPORAL_NAMESPACE: '',
      PORT: 'not-a-port',
      TEMPORAL_TLS_CLIENT_CERT_PATH: path.join(dir, 'missing.pem'),
      TEMPORAL_TLS_CLIENT_KEY_PATH: certs.client.key,
    });
    let message = '';
    try {
      loadConfig(env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    expect(message).toMatch(/^ {2}- PORT: /m);
    expect(message).toContain('  - TEMPORAL_TLS_CLIENT_CERT_PATH: cannot read');
    expect(message).not.toContain('secret-api-key-value');
  });
});
