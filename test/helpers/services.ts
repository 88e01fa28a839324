import { once } from 'node:events';
import { inject } from 'vitest';
import { spawnRepoScript } from '../../stack/deployed-stack.ts';
import type { ManagedProcess } from '../../stack/processes.ts';
import { testEnv } from './stack.ts';

/**
 * The environment a spawned api, worker or operator CLI of a test runs with: the suite's
 * database, payload keys, storage and bundle (`testEnv`), no temporal.toml, no fixed ports, a
 * short drain, and the default listening addresses. `overrides` win; a value `undefined` removes the variable.
 */
export function serviceEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...testEnv(),
    LOG_LEVEL: 'warn',
    PORT: '0',
    TEMPORAL_CONFIG_FILE: '',
    WORKER_METRICS_PORT: '0',
    TEMPORAL_METRICS_ADDRESS: '',
    SHUTDOWN_GRACE_SECONDS: '1',
    STRIPE_GAP_CHECK_INTERVAL_MINUTES: '0',
    WEBHOOK_RELAY_INTERVAL_SECONDS: '1',
    WORKFLOW_BUNDLE_PATH: inject('workflowBundlePath'),
  };
  // The defaults decide where api and worker listen (127.0.0.1), not an inherited value.
  delete env['HOST'];
  delete env['WORKER_METRICS_HOST'];
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** `node scripts/<script>.ts …` of this repository, run from `cwd` (so no `.env` is read). */
export function spawnService(
  script: 'api' | 'worker' | 'ops',
  env: NodeJS.ProcessEnv,
  cwd: string,
  args: string[] = [],
): ManagedProcess {
  return spawnRepoScript(`scripts/${script}.ts`, args, { env, cwd });
}

/** Waits for the process to exit by itself; its exit code and everything it printed. */
export async function exitOf(
  service: ManagedProcess,
  timeoutMs = 45_000,
): Promise<{ code: number | null; output: string }> {
  const chunks: string[] = [];
  service.child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  service.child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk.toString('utf8')));
  const { child } = service;
  if (child.exitCode === null && child.signalCode === null) {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    await once(child, 'exit');
    clearTimeout(timer);
  }
  return { code: child.exitCode, output: `${service.recentOutput()}\n${chunks.join('')}` };
}
