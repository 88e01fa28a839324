import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';

/** A port the OS says is free right now (bound, read and released). */
export async function getFreePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  server.listen(0, host);
  await once(server, 'listening');
  const address = server.address();
  server.close();
  await once(server, 'close');
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return address.port;
}

/** Starts `server` on a free port of 127.0.0.1; its base URL (`http://127.0.0.1:<port>`). */
export async function listenOnLoopback(server: net.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port assigned');
  return `http://127.0.0.1:${address.port}`;
}

export interface ManagedProcess {
  child: ChildProcess;
  /** Resolves when the process has exited; SIGKILL after `graceMs` if SIGTERM is ignored. */
  stop(graceMs?: number): Promise<void>;
  /** The last lines the process printed, for error messages. */
  recentOutput(): string;
  /** Why it stopped (exit code and last lines) once it has exited by itself; null until then. */
  exitReason(): string | null;
}

/**
 * Spawns a child that we own: its output is kept (bounded), `stop` reaps it, and it is killed
 * when this process exits, however that happens short of SIGKILL.
 */
export function spawnManaged(
  command: string,
  args: string[],
  options: SpawnOptions = {},
): ManagedProcess {
  // Its own process group: a terminal's Ctrl-C reaches only us, and we stop children last,
  // after the worker has drained against a server that is still up.
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...options,
  });
  const killOnExit = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    // Forty lines are enough to explain a failed start without holding a server's whole log.
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
  return {
    child,
    recentOutput: () => lines.join('\n'),
    exitReason: () =>
      child.exitCode !== null ? `exited with code ${child.exitCode}:\n${lines.join('\n')}` : null,
    async stop(graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Kills a child with SIGKILL, as a crash would, and waits for it to be reaped. */
export async function killHard(process: ManagedProcess): Promise<void> {
  const { child } = process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Polls `check` until it resolves true, failing after `timeoutMs` or when `abort` says why. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  {
    timeoutMs = 60_000,
    intervalMs = 250,
    abort,
  }: { timeoutMs?: number; intervalMs?: number; abort?: () => string | null } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  while (Date.now() < deadline) {
    const reason = abort?.();
    if (reason) throw new Error(`${what}: ${reason}`);
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(
    `${what}: not ready after ${timeoutMs} ms${lastError instanceof Error ? ` (${lastError.message})` : ''}`,
  );
}
