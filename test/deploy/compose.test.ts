// No Docker engine runs here: these tests hold temporal.docker-compose.yml, the Dockerfile and
// .dockerignore to what a deployment needs, by parsing them.
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ConfigError, envSchema, loadConfig } from '../../config/env.ts';
import { WORKER_OLD_SPACE_MB } from '../../stack/deployed-stack.ts';
import { SEARCH_ATTRIBUTE_REGISTRATIONS } from '../../workflows/contracts.ts';

const root = new URL('../../', import.meta.url);
const read = (file: string): string => readFileSync(new URL(file, root), 'utf8');

interface Service {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  expose?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
  stop_grace_period?: string;
}
const compose = parse(read('temporal.docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const services = compose.services;
const service = (name: string): Service => {
  const found = services[name];
  if (!found) throw new Error(`temporal.docker-compose.yml has no service ${name}`);
  return found;
};
const environmentOf = (name: string): Record<string, string> =>
  Object.fromEntries(
    Object.entries(service(name).environment ?? {}).map(([key, value]) => [key, String(value)]),
  );

/**
 * What compose does to a value: `${VAR:?message}` (required), `${VAR:-default}`, `${VAR}` and
 * `$$` (a literal `$`), from the variables in `.env` or the shell.
 */
function interpolate(value: string, variables: Record<string, string>): string {
  return value.replaceAll(
    /\$\$|\$\{(\w+)(?::([?-])([^}]*))?\}/g,
    (match, name: string | undefined, kind: string | undefined, rest: string | undefined) => {
      if (match === '$$') return '$';
      const given = variables[name!];
      if (given !== undefined && given !== '') return given;
      if (kind === '?') throw new Error(`compose stops: ${name} — ${rest}`);
      return kind === '-' ? (rest ?? '') : '';
    },
  );
}

/** A realistic production `.env` for compose (values shaped like the real ones, none real). */
const productionVariables: Record<string, string> = {
  APP_DB_PASSWORD: 'app-db-password-0123456789',
  TEMPORAL_DB_PASSWORD: 'temporal-db-password-0123456789',
  PUBLIC_BASE_URL: 'https://fulfillment.shop.test',
  STRIPE_SECRET_KEY: 'sk_live_0123456789abcdef',
  STRIPE_WEBHOOK_SECRETS: 'whsec_0123456789abcdef',
  DOWNLOAD_TOKEN_SECRETS: 'd'.repeat(48),
  PAYLOAD_ENCRYPTION_KEYS: `k2026:${Buffer.alloc(32, 7).toString('base64')}`,
  SEARCH_ATTRIBUTE_HASH_KEY: 'h'.repeat(48),
  STOREFRONT_URL: 'https://shop.test',
  AUTH_JWKS_URL: 'https://auth.shop.test/.well-known/jwks.json',
  AUTH_ISSUER: 'https://auth.shop.test/',
  SUPABASE_URL: 'https://abcdefgh.supabase.co',
  SUPABASE_SERVICE_KEY: 'service-role-key-0123456789abcdef',
  RESEND_API_KEY: 're_0123456789abcdef',
  EMAIL_FROM: 'Shop <orders@shop.test>',
};

const containerEnvironment = (name: string, variables = productionVariables) =>
  Object.fromEntries(
    Object.entries(environmentOf(name)).map(([key, value]) => [key, interpolate(value, variables)]),
  );

/** The variables production cannot start without, as loadConfig itself names them. */
function productionRequiredVariables(): string[] {
  try {
    loadConfig({ NODE_ENV: 'production' });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return [...error.message.matchAll(/^ {2}- (\w+):/gm)].map((match) => match[1]!);
  }
  throw new Error('loadConfig accepted an empty production environment');
}

describe('temporal.docker-compose.yml', () => {
  it('has Temporal on PostgreSQL, its UI, admin tools, the search attributes, and the service', () => {
    expect(Object.keys(services).sort()).toEqual(
      [
        'api',
        'app-postgresql',
        'jaeger',
        'migrate',
        'prometheus',
        'temporal',
        'temporal-admin-tools',
        'temporal-postgresql',
        'temporal-visibility-postgresql',
        'temporal-schema',
        'temporal-search-attributes',
        'temporal-ui',
        'schedules',
        'worker',
      ].sort(),
    );
    expect(service('temporal').image).toMatch(/^temporalio\/auto-setup:/);
    expect(environmentOf('temporal')).toMatchObject({
      DB: 'postgres12',
      POSTGRES_SEEDS: 'temporal-postgresql',
    });
    expect(service('temporal-ui').image).toMatch(/^temporalio\/ui:/);
    expect(service('temporal-admin-tools').image).toMatch(/^temporalio\/admin-tools:/);
    for (const database of [
      'temporal-postgresql',
      'temporal-visibility-postgresql',
      'app-postgresql',
    ]) {
      expect(service(database).image).toMatch(/^postgres:/);
      const volume = service(database).volumes?.[0]?.split(':');
      expect(volume?.[1]).toBe('/var/lib/postgresql/data');
      expect(compose.volumes).toHaveProperty(volume![0]!);
    }
  });

  it('sizes history shards up front and keeps visibility on its own PostgreSQL server', () => {
    const temporal = environmentOf('temporal');
    // Fixed at the first boot for the cluster's life: never the image's default of 4.
    expect(Number(temporal['NUM_HISTORY_SHARDS'])).toBeGreaterThanOrEqual(512);
    expect(temporal['POSTGRES_SEEDS']).toBe('temporal-postgresql');
    expect(temporal['VISIBILITY_POSTGRES_SEEDS']).toBe('temporal-visibility-postgresql');
    expect(temporal['VISIBILITY_DBNAME']).toBe('temporal_visibility');
    // auto-setup would create the visibility schema on the history server: a one-shot sets
    // up each schema on its own server first, and Temporal waits for it.
    expect(temporal['SKIP_SCHEMA_SETUP']).toBe('true');
    expect(service('temporal').depends_on).toEqual({
      'temporal-schema': { condition: 'service_completed_successfully' },
    });
    const schema = [service('temporal-schema').command].flat().join(' ');
    expect(schema).toMatch(/--ep temporal-postgresql .*--db temporal update-schema/);
    expect(schema).toMatch(
      /--ep temporal-visibility-postgresql .*--db temporal_visibility update-schema -d \S+\/visibility\/versioned/,
    );
    expect(schema).toContain('set -e');
  });

  it('pins every image to a full version, and builds api, worker and migrate from the Dockerfile', () => {
    for (const [name, definition] of Object.entries(services)) {
      if (definition.build) {
        expect(definition.build, name).toEqual({ context: '.', target: 'runtime' });
        expect(definition.image, name).toBe('fulfillment-orchestrator:local');
      } else {
        expect(definition.image, name).toMatch(
          definition.image?.startsWith('postgres:') ? /:\d+\.\d+-/ : /:v?\d+\.\d+\.\d+$/,
        );
      }
    }
    expect(['api', 'worker', 'migrate', 'schedules'].every((name) => service(name).build)).toBe(
      true,
    );
  });

  it('registers exactly the search attributes workflows/contracts.ts defines', () => {
    const script = [service('temporal-search-attributes').command].flat().join(' ');
    const listed = /for name in ([\w ]+?); do/.exec(script)?.[1]?.split(' ');
    expect(listed?.sort()).toEqual(SEARCH_ATTRIBUTE_REGISTRATIONS.map((a) => a.name).sort());
    for (const { type } of SEARCH_ATTRIBUTE_REGISTRATIONS)
      expect(script).toContain(`--type ${type}`);
    // A failed registration must fail the one-shot (unless the attribute already exists).
    expect(script).toContain('exit 1');
    expect(service('temporal-search-attributes').restart).toBe('no');
  });

  it('publishes the api on 3000 and keeps the unauthenticated Temporal ports on 127.0.0.1', () => {
    expect(service('api').ports).toEqual(['${API_PORT:-3000}:3000']);
    expect(service('temporal-ui').ports).toEqual(['127.0.0.1:8080:8080']);
    expect(service('temporal').ports).toEqual(['127.0.0.1:7233:7233']);
    expect(service('jaeger').ports).toEqual(['127.0.0.1:16686:16686']);
    expect(service('prometheus').ports).toEqual(['127.0.0.1:9090:9090']);
    for (const name of [
      'worker',
      'migrate',
      'schedules',
      'app-postgresql',
      'temporal-postgresql',
      'temporal-visibility-postgresql',
    ])
      expect(service(name).ports, name).toBeUndefined();
  });

  it('checks health: the api and the worker by their /readyz, databases and Temporal', () => {
    const check = (name: string) => service(name).healthcheck?.test.join(' ') ?? '';
    expect(check('api')).toContain('http://127.0.0.1:3000/readyz');
    expect(check('worker')).toContain(
      `http://127.0.0.1:${environmentOf('worker')['WORKER_METRICS_PORT']}/readyz`,
    );
    // Reachable by Prometheus on the compose network, not only from inside the container.
    expect(environmentOf('worker')['WORKER_METRICS_HOST']).toBe('0.0.0.0');
    expect(service('worker').expose).toContain(
      String(environmentOf('worker')['WORKER_METRICS_PORT']),
    );
    expect(check('temporal')).toContain('cluster health');
    expect(check('app-postgresql')).toContain('pg_isready');
    expect(check('temporal-postgresql')).toContain('pg_isready');
  });

  it('starts the api without Temporal, the worker after the search attributes, both after the migration', () => {
    // The api records and acknowledges webhooks while Temporal is away; the worker waits for it
    // itself, but its workflows upsert the search attributes.
    expect(service('api').depends_on).toEqual({
      migrate: { condition: 'service_completed_successfully' },
      'app-postgresql': { condition: 'service_healthy' },
    });
    expect(service('worker').depends_on).toEqual({
      migrate: { condition: 'service_completed_successfully' },
      'app-postgresql': { condition: 'service_healthy' },
      'temporal-search-attributes': { condition: 'service_completed_successfully' },
    });
    for (const name of ['api', 'worker'])
      expect(service(name).stop_grace_period, name).toMatch(/^\d+s$/);
    // The schedules are synced once per deploy, off the worker's start path.
    expect([service('schedules').command].flat()).toEqual([
      'node',
      'scripts/ops.ts',
      'schedules',
      'sync',
    ]);
    expect(service('schedules').restart).toBe('no');
    expect(service('migrate').depends_on).toEqual({
      'app-postgresql': { condition: 'service_healthy' },
    });
    // Every service_healthy dependency has a health check to wait for.
    for (const [name, definition] of Object.entries(services)) {
      for (const [target, { condition }] of Object.entries(definition.depends_on ?? {})) {
        if (condition === 'service_healthy')
          expect(service(target).healthcheck, `${name} → ${target}`).toBeDefined();
      }
    }
  });

  it('holds no secret inline: passwords, keys and tokens come from variables', () => {
    const secretLike = /PASSWORD|PWD|SECRET|_KEY|KEYS|TOKENS|DATABASE_URL/;
    for (const [name, definition] of Object.entries(services)) {
      for (const [key, value] of Object.entries(definition.environment ?? {})) {
        if (!secretLike.test(key) || key === 'POSTGRES_USER') continue;
        const text = String(value);
        if (key === 'DATABASE_URL') {
          expect(text, `${name}.${key}`).toMatch(
            /^postgres:\/\/\w+:\$\{APP_DB_PASSWORD:\?[^}]+\}@/,
          );
        } else {
          expect(text, `${name}.${key}`).toMatch(/^\$\{\w+:[?-][^}]*\}$/);
        }
      }
    }
  });

  it('gives api and worker every variable production requires, named as config/env.ts names them', () => {
    const required = productionRequiredVariables();
    expect(required).toEqual(expect.arrayContaining(['DATABASE_URL', 'STRIPE_SECRET_KEY']));
    for (const name of ['api', 'worker', 'schedules']) {
      const environment = environmentOf(name);
      for (const variable of required)
        expect(environment, `${name} lacks ${variable}`).toHaveProperty(variable);
      // No typo: every variable set is one the service reads.
      for (const key of Object.keys(environment))
        expect(Object.keys(envSchema.shape), `${name}.${key}`).toContain(key);
    }
  });

  it('yields a configuration production accepts once the required variables are set', () => {
    for (const name of ['api', 'worker']) {
      const config = loadConfig(containerEnvironment(name));
      expect(config.NODE_ENV).toBe('production');
      expect(config.DATABASE_URL).toBe(
        `postgres://fulfillment:${productionVariables['APP_DB_PASSWORD']}@app-postgresql:5432/fulfillment`,
      );
      expect(config.TEMPORAL_ADDRESS).toBe('temporal:7233');
    }
    expect(loadConfig(containerEnvironment('worker')).WORKFLOW_BUNDLE_PATH).toBe(
      dockerfileEnv()['WORKFLOW_BUNDLE_PATH'],
    );
    expect(loadConfig(containerEnvironment('api')).HOST).toBe('0.0.0.0');
  });

  it('sends traces to its Jaeger and has its Prometheus scrape the api and every worker with the shipped rules', () => {
    for (const name of ['api', 'worker']) {
      const config = loadConfig(containerEnvironment(name));
      expect(config.OTEL_TRACES_EXPORTER, name).toBe('otlp');
      expect(config.OTEL_EXPORTER_OTLP_ENDPOINT, name).toBe('http://jaeger:4318');
    }
    expect(service('jaeger').image).toMatch(/^jaegertracing\/jaeger:/);
    expect(service('jaeger').expose).toContain('4318');
    expect([service('jaeger').command].flat().join(' ')).toContain(
      'receivers.otlp.protocols.http.endpoint=0.0.0.0:4318',
    );

    expect(service('prometheus').image).toMatch(/^prom\/prometheus:/);
    expect(service('prometheus').volumes).toContain(
      './observability/prometheus:/etc/prometheus:ro',
    );
    const configFile = /--config\.file=\/etc\/prometheus\/(\S+)/.exec(
      [service('prometheus').command].flat().join(' '),
    )?.[1];
    const prometheus = parse(read(`observability/prometheus/${configFile}`)) as {
      rule_files: string[];
      scrape_configs: {
        job_name: string;
        static_configs?: { targets: string[] }[];
        dns_sd_configs?: { names: string[]; port: number }[];
      }[];
    };
    expect(prometheus.rule_files.sort()).toEqual(
      ['/etc/prometheus/alerts.yml', '/etc/prometheus/slos.yml'].sort(),
    );
    for (const file of prometheus.rule_files)
      expect(existsSync(new URL(`observability/prometheus/${file.split('/').pop()}`, root))).toBe(
        true,
      );
    const job = (name: string) => prometheus.scrape_configs.find((c) => c.job_name === name);
    expect(job('api')?.static_configs?.[0]?.targets).toEqual(['api:3000']);
    expect(job('worker')?.dns_sd_configs?.[0]).toEqual({
      names: ['worker'],
      type: 'A',
      port: Number(environmentOf('worker')['WORKER_METRICS_PORT']),
    });
  });

  it('stops with the message naming a required variable that is missing', () => {
    const withoutKey = { ...productionVariables };
    delete withoutKey['STRIPE_SECRET_KEY'];
    expect(() => containerEnvironment('api', withoutKey)).toThrow(
      /STRIPE_SECRET_KEY — set STRIPE_SECRET_KEY/,
    );
  });
});

/** Dockerfile instructions with line continuations joined, grouped by stage. */
function dockerfileStages(): { name: string; from: string; instructions: string[] }[] {
  const lines = read('Dockerfile')
    .replaceAll(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const stages: { name: string; from: string; instructions: string[] }[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) stages.push({ from: from[1]!, name: from[2] ?? '', instructions: [] });
    else stages.at(-1)?.instructions.push(line);
  }
  return stages;
}
const stage = (name: string) => {
  const found = dockerfileStages().find((s) => s.name === name);
  if (!found) throw new Error(`Dockerfile has no stage ${name}`);
  return found;
};
const argDefault = (name: string) =>
  new RegExp(`^ARG ${name}=(\\S+)`, 'm').exec(read('Dockerfile'))?.[1];
function dockerfileEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of stage('runtime').instructions.filter((l) => l.startsWith('ENV '))) {
    for (const [, key, value] of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[key!] = value!;
  }
  return env;
}
const jsonArray = (instruction: string) =>
  JSON.parse(instruction.replace(/^\w+\s+/, '')) as string[];

describe('Dockerfile', () => {
  it('builds in stages deps → build → runtime on a pinned Node 24', () => {
    expect(dockerfileStages().map((s) => s.name)).toEqual(['deps', 'build', 'runtime']);
    const image = argDefault('NODE_IMAGE');
    expect(image).toMatch(/^node:24\.\d+\.\d+-/);
    const devNode = JSON.parse(read('package.json')) as { devDependencies: Record<string, string> };
    expect(devNode.devDependencies['node']).toMatch(/^\^?24\./);
    expect(stage('build').from).toBe('deps');
    expect(stage('runtime').from).toBe('${NODE_IMAGE}');
  });

  it('prebuilds the workflow bundle with the npm script’s own file and ships it to runtime', () => {
    const build = stage('build').instructions.find((l) => l.includes('build-workflow-bundle'));
    expect(build).toBe('RUN node scripts/build-workflow-bundle.ts --out dist/workflow-bundle.js');
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> })
      .scripts;
    expect(scripts['build:workflows']).toBe('node scripts/build-workflow-bundle.ts');
    expect(stage('runtime').instructions).toContain(
      'COPY --from=build /app/dist/workflow-bundle.js /app/dist/workflow-bundle.js',
    );
    expect(dockerfileEnv()['WORKFLOW_BUNDLE_PATH']).toBe('/app/dist/workflow-bundle.js');
    expect(environmentOf('worker')['WORKFLOW_BUNDLE_PATH']).toBe('/app/dist/workflow-bundle.js');
  });

  it('runs production dependencies only, as a non-root user, in production mode', () => {
    const runtime = stage('runtime').instructions;
    expect(runtime.some((l) => /^RUN npm ci --omit=dev\b/.test(l))).toBe(true);
    expect(dockerfileEnv()['NODE_ENV']).toBe('production');
    const users = runtime.filter((l) => l.startsWith('USER '));
    expect(users).toHaveLength(1);
    expect(users[0]).not.toMatch(/^USER (root|0)(:|$)/);
    // USER comes after every COPY/RUN, so the process runs as that user.
    expect(runtime.indexOf(users[0]!)).toBeGreaterThan(
      Math.max(...runtime.map((l, i) => (/^(RUN|COPY)/.test(l) ? i : -1))),
    );
    expect(runtime.find((l) => l.startsWith('HEALTHCHECK'))).toContain('/healthz');
  });

  it('starts files that exist and that .dockerignore lets into the image', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
    const commands = [
      jsonArray(stage('runtime').instructions.find((l) => l.startsWith('CMD'))!),
      ...['api', 'worker', 'migrate'].map((name) => [service(name).command].flat() as string[]),
    ];
    for (const command of commands) {
      expect(command[0]).toBe('node');
      // Node's own flags (the worker's heap cap) come before the script.
      const file = command.slice(1).find((arg) => !arg.startsWith('--'))!;
      expect(existsSync(new URL(file, root)), file).toBe(true);
      expect(
        ignored.some((pattern) => file === pattern || file.startsWith(`${pattern}/`)),
        file,
      ).toBe(false);
    }
    expect([service('api').command].flat()).toEqual(['node', 'scripts/api.ts']);
    expect([service('worker').command].flat()).toEqual([
      'node',
      `--max-old-space-size=${WORKER_OLD_SPACE_MB}`,
      'scripts/worker.ts',
    ]);
    expect([service('migrate').command].flat()).toEqual(['node', 'scripts/migrate.ts']);
  });

  it('keeps local state, secrets, dependencies and tests out of the build context', () => {
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['node_modules', '.env', '.data', '.tools', '.git', 'test', 'dist'])
      expect(ignored, entry).toContain(entry);
  });
});
