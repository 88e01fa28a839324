// A real Prometheus (and promtool) from Debian's `prometheus` package, for the tests that load the
// project's rules: installed by the project's own scripts (.ci/run apt-installs it), found on PATH.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { makeScratchDir, type Cleanups } from './cleanups.ts';
import { getFreePort, spawnManaged, waitFor } from './processes.ts';
import { REPO_ROOT } from './workflow-bundle.ts';

/** The rule files the project ships, as Prometheus loads them (`rule_files:`). */
export const RULE_FILES = ['alerts.yml', 'slos.yml'].map((file) =>
  path.join(REPO_ROOT, 'observability/prometheus', file),
);

/** `prometheus` or `promtool` on PATH, or an error saying how to get it. */
export function prometheusBinary(command: 'prometheus' | 'promtool'): string {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not in this folder
    }
  }
  throw new Error(
    `${command} is not on PATH: install Debian's prometheus package (apt-get install -y prometheus), as .ci/run does`,
  );
}

/** Runs promtool with `args` from `cwd`; its exit status and output. */
export function runPromtool(args: string[], cwd = REPO_ROOT): { status: number; output: string } {
  const result = spawnSync(prometheusBinary('promtool'), args, {
    cwd,
    encoding: 'utf8',
    // Days of samples at minute resolution: slow on a loaded machine, never endless.
    timeout: 300_000,
  });
  return {
    status: result.status ?? 1,
    output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}`,
  };
}

export interface ScrapeTarget {
  job: string;
  /** `host:port` serving `/metrics`. */
  address: string;
}

export interface RunningPrometheus {
  url: string;
  /** A GET on Prometheus's HTTP API (`/api/v1/…`), its `data` when the status is success. */
  api<T>(pathAndQuery: string): Promise<T>;
}

/**
 * Starts Prometheus on a free port with a scratch TSDB, scraping `targets` and evaluating the
 * project's rule files every `intervalSeconds`; stopped and removed by `cleanups`.
 */
export async function startPrometheus(
  cleanups: Cleanups,
  { targets, intervalSeconds = 1 }: { targets: ScrapeTarget[]; intervalSeconds?: number },
): Promise<RunningPrometheus> {
  const dir = await makeScratchDir(cleanups, 'fulfillment-prometheus-');
  const config = {
    global: { scrape_interval: `${intervalSeconds}s`, evaluation_interval: `${intervalSeconds}s` },
    rule_files: RULE_FILES,
    scrape_configs: targets.map(({ job, address }) => ({
      job_name: job,
      static_configs: [{ targets: [address] }],
    })),
  };
  const configFile = path.join(dir, 'prometheus.yml');
  await writeFile(configFile, stringify(config));
  const port = await getFreePort();
  const server = spawnManaged(
    prometheusBinary('prometheus'),
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { cwd: dir },
  );
  cleanups.add('prometheus', () => server.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitFor('prometheus ready', async () => (await fetch(`${url}/-/ready`)).ok, {
    abort: () => server.exitReason(),
  });
  return {
    url,
    async api<T>(pathAndQuery: string): Promise<T> {
      const response = await fetch(`${url}${pathAndQuery}`);
      const body = (await response.json()) as { status: string; data: T; error?: string };
      if (body.status !== 'success') throw new Error(`prometheus ${pathAndQuery}: ${body.error}`);
      return body.data;
    },
  };
}
