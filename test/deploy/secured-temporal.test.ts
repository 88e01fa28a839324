// A secured Temporal, as Temporal Cloud or a self-hosted cluster with TLS presents itself: a dev
// server behind Debian's nginx terminating TLS, once requiring a client certificate (mTLS) and
// once an API key, with certificates made by the test. The api, the worker and the operator
// CLI run as the processes a deployment runs and read the connection the way Temporal's CLI and
// SDKs do (`@temporalio/envconfig`: TEMPORAL_* variables, a temporal.toml profile).
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../config/env.ts';
import { Cleanups, makeScratchDir } from '../../stack/cleanups.ts';
import { waitForPoller } from '../../stack/deployed-stack.ts';
import {
  generateTestCertificates,
  startGrpcTlsProxy,
  type GrpcTlsProxy,
  type TestCertificates,
} from '../../stack/grpc-tls-proxy.ts';
import { postWebhook } from '../../stack/load.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { signStripePayload } from '../../stack/stripe-events.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import { connectTemporalClient } from '../../temporal/client.ts';
import { temporalTargetFromConfig } from '../../temporal/data-converter.ts';
import { fulfillmentWorkflowId } from '../../workflows/contracts.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { purchaseRows } from '../helpers/purchases.ts';
import { exitOf, serviceEnv, spawnService } from '../helpers/services.ts';
import { paymentSucceeded } from '../helpers/stripe.ts';
import { fileTaskQueue } from '../helpers/file-resources.ts';

const cleanups = new Cleanups('secured-temporal test');
let dir: string;
let certs: TestCertificates;
let mtls: GrpcTlsProxy;
let apiKeyProxy: GrpcTlsProxy;
/** A plain client on the dev server itself, to see what the processes did. */
let direct: Client;
let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
const apiKey = `test-key-${randomBytes(12).toString('hex')}`;

beforeAll(async () => {
  dir = await makeScratchDir(cleanups, 'fulfillment-secured-');
  certs = generateTestCertificates(path.join(dir, 'certs'));
  scratch = await createScratchDatabase();
  cleanups.add('database', () => scratch.drop());
  // A server of this file's own: its task queue sees only this file's workers.
  const devServer = await startTemporalDevServer({ port: await getFreePort(), uiPort: null });
  cleanups.add('temporal dev server', () => devServer.stop());
  mtls = await startGrpcTlsProxy({
    upstream: devServer.address,
    dir,
    certificates: certs,
    auth: { kind: 'mtls' },
  });
  cleanups.add('mtls proxy', () => mtls.stop());
  apiKeyProxy = await startGrpcTlsProxy({
    upstream: devServer.address,
    dir,
    certificates: certs,
    auth: { kind: 'api-key', apiKey },
  });
  cleanups.add('api key proxy', () => apiKeyProxy.stop());
  direct = await connectTemporalClient({ address: devServer.address, namespace: 'default' });
  cleanups.add('direct client', () => direct.connection.close());
});
afterAll(() => cleanups.runAll());

/** Settings of a client certificate signed by the proxy's CA (or another one). */
const mtlsEnv = (overrides: Record<string, string | undefined> = {}) =>
  serviceEnv({
    DATABASE_URL: scratch.url,
    TEMPORAL_ADDRESS: mtls.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.ca.cert,
    TEMPORAL_TLS_CLIENT_CERT_PATH: certs.client.cert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: certs.client.key,
    ...overrides,
  });

/** A temporal.toml with a `cloud` profile for the API-key proxy (as Temporal Cloud users have). */
function writeProfile(key: string): string {
  const file = path.join(dir, `temporal-${randomBytes(4).toString('hex')}.toml`);
  writeFileSync(
    file,
    `[profile.cloud]
address = "${apiKeyProxy.address}"
namespace = "default"
api_key = "${key}"

[profile.cloud.tls]
server_ca_cert_path = "${certs.ca.cert}"
`,
  );
  return file;
}
const profileEnv = (file: string) =>
  serviceEnv({
    DATABASE_URL: scratch.url,
    TEMPORAL_ADDRESS: undefined,
    TEMPORAL_CONFIG_FILE: file,
    TEMPORAL_PROFILE: 'cloud',
  });

async function startWorker(env: NodeJS.ProcessEnv) {
  const worker = spawnService('worker', env, dir);
  cleanups.add('worker', () => worker.stop());
  await waitForPoller(direct, fileTaskQueue, worker.child.pid!, {
    abort: () => worker.exitReason(),
  });
  return worker;
}

describe('Temporal behind a TLS terminator that requires a client certificate (mTLS)', () => {
  it('connects the worker, the api and the operator CLI, and a purchase is fulfilled through it', async () => {
    const env = mtlsEnv();
    const worker = await startWorker(env);
    const port = await getFreePort();
    const api = spawnService('api', { ...env, PORT: String(port) }, dir);
    cleanups.add('api', () => api.stop());
    const apiUrl = `http://127.0.0.1:${port}`;
    await waitFor(
      'the api sees Temporal through the proxy',
      async () => {
        const body = (await (await fetch(`${apiUrl}/readyz`)).json()) as {
          checks: { temporal: string };
        };
        return body.checks.temporal === 'ok';
      },
      { abort: () => api.exitReason() },
    );

    const event = paymentSucceeded();
    const payload = JSON.stringify(event);
    const secret = env['STRIPE_WEBHOOK_SECRETS']!;
    expect(await postWebhook(apiUrl, payload, signStripePayload(payload, secret))).toBe(200);
    const paymentIntentId = event.data.object.id;
    await waitFor(
      'the worker fulfilled the purchase',
      async () =>
        (await purchaseRows(scratch.db, paymentIntentId)).jobs.some(
          (job) => job.status === 'completed',
        ),
      { timeoutMs: 45_000, intervalMs: 250 },
    );
    const description = await direct.workflow
      .getHandle(fulfillmentWorkflowId(paymentIntentId))
      .describe();
    expect(description.status.name).toBe('RUNNING'); // reminding

    const sync = await exitOf(spawnService('ops', env, dir, ['schedules', 'sync', '--json']));
    expect(sync.code, sync.output).toBe(0);
    expect(sync.output).toContain('"outcome": "created"');
    expect(worker.exitReason()).toBeNull();
  }, 120_000);

  it('stops the worker, the api and the CLI at start, naming the setting, when the certificates do not fit', async () => {
    const rogue = mtlsEnv({
      TEMPORAL_TLS_CLIENT_CERT_PATH: certs.rogueClient.cert,
      TEMPORAL_TLS_CLIENT_KEY_PATH: certs.rogueClient.key,
    });
    const wrongCa = mtlsEnv({ TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.otherCa.cert });
    const port = await getFreePort();
    const [worker, api, cli, workerWrongCa, cliWrongCa] = await Promise.all([
      exitOf(spawnService('worker', rogue, dir)),
      exitOf(spawnService('api', { ...rogue, PORT: String(port) }, dir)),
      exitOf(spawnService('ops', rogue, dir, ['schedules', 'check'])),
      exitOf(spawnService('worker', wrongCa, dir)),
      exitOf(spawnService('ops', wrongCa, dir, ['schedules', 'check'])),
    ]);
    for (const [name, run] of Object.entries({ worker, api, cli })) {
      expect(run.code, `${name}: ${run.output}`).toBe(1);
      expect(run.output, name).toMatch(
        /Cannot connect to Temporal: TEMPORAL_TLS_CLIENT_CERT_PATH: .* refused the client certificate/,
      );
    }
    for (const [name, run] of Object.entries({ workerWrongCa, cliWrongCa })) {
      expect(run.code, `${name}: ${run.output}`).toBe(1);
      expect(run.output, name).toMatch(
        /Cannot connect to Temporal: TEMPORAL_TLS_SERVER_CA_CERT_PATH: the certificate of .* is not signed by the CA in TEMPORAL_TLS_SERVER_CA_CERT_PATH/,
      );
    }
  }, 120_000);

  it('refuses at configuration a key that does not belong to its certificate, naming both', async () => {
    const run = await exitOf(
      spawnService('worker', mtlsEnv({ TEMPORAL_TLS_CLIENT_KEY_PATH: certs.rogueClient.key }), dir),
    );
    expect(run.code).toBe(1);
    expect(run.output).toContain(
      'TEMPORAL_TLS_CLIENT_KEY_PATH: is not the private key of the certificate in TEMPORAL_TLS_CLIENT_CERT_PATH',
    );
  });
});

describe('Temporal behind a TLS terminator that requires an API key', () => {
  it('connects the worker, a client and the operator CLI from a temporal.toml profile', async () => {
    const env = profileEnv(writeProfile(apiKey));
    // What every process resolves: the profile's address, key and CA, TLS on for the key.
    const config = loadConfig(env);
    expect(config.TEMPORAL_ADDRESS).toBe(apiKeyProxy.address);
    expect(config.temporalConnection.apiKey).toBe(apiKey);
    const client = await connectTemporalClient(temporalTargetFromConfig(config));
    try {
      const namespace = await client.workflowService.describeNamespace({ namespace: 'default' });
      expect(namespace.namespaceInfo?.name).toBe('default');
    } finally {
      await client.connection.close();
    }
    await startWorker(env);
    const check = await exitOf(spawnService('ops', env, dir, ['schedules', 'check', '--json']));
    expect([0, 3], check.output).toContain(check.code);
    expect(check.output).toContain('"schedule": "ops-reconcile-daily"');
  }, 90_000);

  it('stops the worker, the api and the CLI at start when the key is wrong, naming where it came from', async () => {
    const wrongInEnv = serviceEnv({
      DATABASE_URL: scratch.url,
      TEMPORAL_ADDRESS: apiKeyProxy.address,
      TEMPORAL_API_KEY: 'not-the-key',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.ca.cert,
    });
    const wrongInProfile = profileEnv(writeProfile('not-the-key-either'));
    const port = await getFreePort();
    const [worker, api, cli, profileWorker] = await Promise.all([
      exitOf(spawnService('worker', wrongInEnv, dir)),
      exitOf(spawnService('api', { ...wrongInEnv, PORT: String(port) }, dir)),
      exitOf(spawnService('ops', wrongInEnv, dir, ['schedules', 'check'])),
      exitOf(spawnService('worker', wrongInProfile, dir)),
    ]);
    for (const [name, run] of Object.entries({ worker, api, cli })) {
      expect(run.code, `${name}: ${run.output}`).toBe(1);
      expect(run.output, name).toMatch(
        /Cannot connect to Temporal: TEMPORAL_API_KEY: .* rejected the API key \(UNAUTHENTICATED\)/,
      );
    }
    expect(profileWorker.code, profileWorker.output).toBe(1);
    expect(profileWorker.output).toMatch(
      /Cannot connect to Temporal: api_key \(profile "cloud" in .*\.toml\): .* rejected the API key/,
    );
  }, 90_000);
});
