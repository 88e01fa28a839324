// deploy/kubernetes/ against the Kubernetes JSON schemas (strict: an unknown or misspelt field
// fails) of the oldest and newest releases it targets, from PyPI's kubernetes-validate
// (stack/kubernetes-schemas.ts; installed by `npm run tools`, nothing is fetched here), with
// ajv — and against what the processes actually do: probe paths, drain times, env names.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020 as Ajv, type ValidateFunction } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { envSchema, loadConfig } from '../../config/env.ts';
import { WORKER_OLD_SPACE_MB } from '../../stack/deployed-stack.ts';
import { resolveKubernetesSchemas } from '../../stack/kubernetes-schemas.ts';

const root = new URL('../../', import.meta.url);
const deployDir = new URL('deploy/kubernetes/', root);
/** The releases the manifests must be valid for: a long-supported one and the newest. */
const KUBERNETES_VERSIONS = ['1.30.0', '1.37.0'];

// The loose shape of what the manifests hold; the schemas check the real one.
interface Probe {
  httpGet: { path: string; port: string | number };
}
interface Container {
  name: string;
  command: string[];
  ports?: { name: string; containerPort: number }[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef: { key: string } } }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { exec: { command: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels: Record<string, string> };
    strategy?: { rollingUpdate?: { maxUnavailable?: number; maxSurge?: number } };
    maxUnavailable?: number;
    scaleTargetRef?: { kind: string; name: string };
    minReplicas?: number;
    metrics?: { type: string; external?: { metric: { name: string } } }[];
    template?: {
      metadata?: { labels?: Record<string, string> };
      spec: { terminationGracePeriodSeconds?: number; containers: Container[] };
    };
  };
}

/** Every YAML file under deploy/kubernetes/, with its documents. */
function manifestFiles(): { file: string; documents: Manifest[] }[] {
  const files = readdirSync(deployDir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.yaml'))
    .sort();
  return files.map((file) => ({
    file,
    documents: parseAllDocuments(readFileSync(new URL(file, deployDir), 'utf8')).map(
      (document) => document.toJS({ maxAliasCount: 100 }) as Manifest,
    ),
  }));
}
const kubernetesObjects = () =>
  manifestFiles().flatMap(({ file, documents }) =>
    file.endsWith('kustomization.yaml') ? [] : documents.map((manifest) => ({ file, manifest })),
  );
const find = (kind: string, name: string): Manifest => {
  const found = kubernetesObjects().find(
    ({ manifest }) => manifest.kind === kind && manifest.metadata.name === name,
  );
  if (!found) throw new Error(`deploy/kubernetes has no ${kind} ${name}`);
  return found.manifest;
};

/** `deployment-apps-v1.json`, `service-v1.json`: the schema file of a kind and API version. */
function schemaFile(manifest: Manifest): string {
  const [group, version] = manifest.apiVersion.includes('/')
    ? manifest.apiVersion.split('/')
    : ['', manifest.apiVersion];
  const kind = manifest.kind.toLowerCase();
  return group ? `${kind}-${group.split('.')[0]}-${version}.json` : `${kind}-${version}.json`;
}

let validators: Map<string, (manifest: Manifest) => ValidateFunction>;
beforeAll(() => {
  const schemas = resolveKubernetesSchemas();
  validators = new Map(
    KUBERNETES_VERSIONS.map((version) => {
      const dir = path.join(schemas, `v${version}-local-strict`);
      const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
      // Every kind's schema refers to its fields as `/api/_definitions.json#/$defs/…`.
      ajv.addSchema(
        JSON.parse(readFileSync(path.join(dir, '_definitions.json'), 'utf8')) as object,
        '/api/_definitions.json',
      );
      const compiled = new Map<string, ValidateFunction>();
      return [
        version,
        (manifest: Manifest) => {
          const file = schemaFile(manifest);
          if (!compiled.has(file)) {
            expect(existsSync(path.join(dir, file)), `${file} in Kubernetes ${version}`).toBe(true);
            compiled.set(
              file,
              ajv.compile(JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as object),
            );
          }
          return compiled.get(file)!;
        },
      ];
    }),
  );
});

const errorsOf = (validate: ValidateFunction) =>
  (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`).join('; ');

const shutdownGraceSeconds = () =>
  Number(find('ConfigMap', 'fulfillment-config').data!['SHUTDOWN_GRACE_SECONDS']);
const container = (name: string) => find('Deployment', name).spec!.template!.spec.containers[0]!;

describe('deploy/kubernetes', () => {
  it('validates against the Kubernetes JSON schemas of every targeted release', () => {
    const objects = kubernetesObjects();
    expect(objects.map(({ manifest }) => manifest.kind).sort()).toEqual(
      [
        'ConfigMap',
        'Deployment',
        'Deployment',
        'HorizontalPodAutoscaler',
        'HorizontalPodAutoscaler',
        'Job',
        'Job',
        'PodDisruptionBudget',
        'PodDisruptionBudget',
        'Secret',
        'Service',
      ].sort(),
    );
    for (const version of KUBERNETES_VERSIONS) {
      for (const { file, manifest } of objects) {
        const validate = validators.get(version)!(manifest);
        expect(
          validate(manifest),
          `${file} ${manifest.kind} (${version}): ${errorsOf(validate)}`,
        ).toBe(true);
      }
    }
  });

  it('fails validation for a misspelt field (the schemas are strict)', () => {
    const deployment = structuredClone(find('Deployment', 'fulfillment-api'));
    const broken = deployment.spec!.template!.spec.containers[0] as unknown as Record<
      string,
      unknown
    >;
    broken['readinessprobe'] = broken['readinessProbe'];
    const validate = validators.get(KUBERNETES_VERSIONS[0]!)!(deployment);
    expect(validate(deployment)).toBe(false);
    expect(errorsOf(validate)).toMatch(/additional properties/);
  });

  it('probes the endpoints each process serves, on the port it listens on', () => {
    const api = container('fulfillment-api');
    expect(api.command).toEqual(['node', 'scripts/api.ts']);
    const apiPort = api.env!.find((e) => e.name === 'PORT')!.value;
    expect(api.ports).toEqual([{ name: 'http', containerPort: Number(apiPort) }]);
    expect(api.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(api.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
    // Reachable by the kubelet, not only from inside the container.
    expect(api.env!.find((e) => e.name === 'HOST')!.value).toBe('0.0.0.0');

    const worker = container('fulfillment-worker');
    // The heap cap the memory benchmark runs the worker with (docs/BENCHMARKS.md "memory").
    expect(worker.command).toEqual([
      'node',
      `--max-old-space-size=${WORKER_OLD_SPACE_MB}`,
      'scripts/worker.ts',
    ]);
    const metricsPort = worker.env!.find((e) => e.name === 'WORKER_METRICS_PORT')!.value;
    expect(worker.ports).toEqual([{ name: 'metrics', containerPort: Number(metricsPort) }]);
    expect(worker.env!.find((e) => e.name === 'WORKER_METRICS_HOST')!.value).toBe('0.0.0.0');
    expect(worker.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(worker.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
  });

  it('gives each pod time to drain: preStop + SHUTDOWN_GRACE_SECONDS + the 10 s close margin', () => {
    const grace = shutdownGraceSeconds();
    expect(grace).toBeGreaterThan(0);
    for (const name of ['fulfillment-api', 'fulfillment-worker']) {
      const pod = find('Deployment', name).spec!.template!.spec;
      const preStop = pod.containers[0]!.lifecycle?.preStop?.exec.command;
      const preStopSeconds = preStop?.[0] === 'sleep' ? Number(preStop[1]) : 0;
      // scripts/api.ts and scripts/worker.ts exit at the latest grace + 10 s after SIGTERM.
      expect(pod.terminationGracePeriodSeconds, name).toBeGreaterThanOrEqual(
        preStopSeconds + grace + 10,
      );
    }
    // The api keeps serving while load balancers drop it, before it drains.
    expect(container('fulfillment-api').lifecycle?.preStop?.exec.command).toEqual(['sleep', '5']);
  });

  it('sets requests and a memory limit, never rolls below capacity, and keeps a PodDisruptionBudget', () => {
    for (const name of ['fulfillment-api', 'fulfillment-worker']) {
      const deployment = find('Deployment', name);
      const { resources } = deployment.spec!.template!.spec.containers[0]!;
      expect(resources?.requests?.['cpu'], name).toBeDefined();
      expect(resources?.requests?.['memory'], name).toBeDefined();
      expect(resources?.limits?.['memory'], name).toBeDefined();
      expect(deployment.spec!.strategy!.rollingUpdate!.maxUnavailable, name).toBe(0);
      const labels = deployment.spec!.template!.metadata!.labels!;
      expect(deployment.spec!.selector!.matchLabels).toEqual(labels);
      const budget = find('PodDisruptionBudget', name);
      expect(labels).toMatchObject(budget.spec!.selector!.matchLabels);
      // A budget that allows no disruption would block node drains for good.
      expect(budget.spec!.maxUnavailable, name).toBeGreaterThanOrEqual(1);
    }
  });

  it('scales the api on CPU and the workers on the task queue backlog', () => {
    for (const name of ['fulfillment-api', 'fulfillment-worker']) {
      const autoscaler = find('HorizontalPodAutoscaler', name);
      expect(autoscaler.spec!.scaleTargetRef).toMatchObject({ kind: 'Deployment', name });
      expect(autoscaler.spec!.minReplicas, name).toBeGreaterThanOrEqual(2);
    }
    const workerMetrics = find('HorizontalPodAutoscaler', 'fulfillment-worker').spec!.metrics!;
    expect(workerMetrics.find((m) => m.type === 'External')?.external?.metric.name).toMatch(
      /backlog/,
    );
  });

  it('runs migrations and the schedule sync as Jobs of the same image, migrations on a session pool', () => {
    const migrate = find('Job', 'fulfillment-migrate').spec!.template!.spec.containers[0]!;
    expect(migrate.command).toEqual(['node', 'scripts/migrate.ts']);
    expect(migrate.env).toContainEqual({
      name: 'DATABASE_URL',
      valueFrom: { secretKeyRef: { name: 'fulfillment-secrets', key: 'MIGRATE_DATABASE_URL' } },
    });
    const schedules = find('Job', 'fulfillment-schedules').spec!.template!.spec.containers[0]!;
    expect(schedules.command).toEqual(['node', 'scripts/ops.ts', 'schedules', 'sync']);
    for (const command of [migrate.command, schedules.command])
      expect(existsSync(new URL(command[1]!, root))).toBe(true);
  });

  it('names only variables the service reads, and gives production all it requires', () => {
    const known = Object.keys(envSchema.shape);
    const config = find('ConfigMap', 'fulfillment-config').data!;
    const secret = find('Secret', 'fulfillment-secrets').stringData!;
    for (const key of Object.keys(config)) expect(known, `ConfigMap ${key}`).toContain(key);
    for (const key of Object.keys(secret).filter((k) => k !== 'MIGRATE_DATABASE_URL'))
      expect(known, `Secret ${key}`).toContain(key);
    for (const name of ['fulfillment-api', 'fulfillment-worker'])
      for (const { name: key } of container(name).env ?? [])
        expect(known, `${name} ${key}`).toContain(key);

    // The example secret's placeholders are refused by production, real values are not.
    expect(() => loadConfig({ ...config, ...secret })).toThrow(/is the example value/);
    const realistic: Record<string, string> = {
      DATABASE_URL: 'postgres://fulfillment:pw@pgbouncer:6432/fulfillment',
      STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef',
      STRIPE_WEBHOOK_SECRETS: 'whsec_0123456789abcdef',
      DOWNLOAD_TOKEN_SECRETS: 'd'.repeat(48),
      PAYLOAD_ENCRYPTION_KEYS: `k2026:${Buffer.alloc(32, 7).toString('base64')}`,
      SEARCH_ATTRIBUTE_HASH_KEY: 'h'.repeat(48),
      SUPABASE_SERVICE_KEY: 'service-role-key-0123456789abcdef',
      RESEND_API_KEY: 're_0123456789abcdef',
      TEMPORAL_API_KEY: 'temporal-cloud-api-key',
      OPERATOR_TOKENS: `ops:admin:${'o'.repeat(32)}`,
      SERVICE_TOKENS: `missions:${'s'.repeat(32)}`,
    };
    expect(Object.keys(realistic).sort()).toEqual(
      Object.keys(secret)
        .filter((k) => k !== 'MIGRATE_DATABASE_URL')
        .sort(),
    );
    for (const name of ['fulfillment-api', 'fulfillment-worker']) {
      const env = Object.fromEntries(
        (container(name).env ?? []).map(({ name: key, value }) => [key, value ?? '']),
      );
      const loaded = loadConfig({ ...config, ...realistic, ...env, TEMPORAL_CONFIG_FILE: '' });
      expect(loaded.NODE_ENV).toBe('production');
      expect(loaded.temporalConnection).toMatchObject({
        apiKey: 'temporal-cloud-api-key',
        tls: true,
      });
    }
  });

  it('lists every manifest in a kustomization, and keeps the example Secret out of them', () => {
    const files = manifestFiles().map(({ file }) => file);
    const listed = files
      .filter((file) => file.endsWith('kustomization.yaml'))
      .flatMap((file) => {
        const { resources, images } = manifestFiles().find((f) => f.file === file)!
          .documents[0] as unknown as { resources: string[]; images: { name: string }[] };
        expect(images.map((image) => image.name)).toEqual(['fulfillment-orchestrator']);
        return resources.map((resource) => path.join(path.dirname(file), resource));
      })
      .sort();
    expect(listed).toEqual(
      files
        .filter((file) => !file.endsWith('kustomization.yaml') && file !== 'secret.example.yaml')
        .sort(),
    );
  });
});
