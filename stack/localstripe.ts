import { existsSync, readFileSync } from 'node:fs';
import { resolveBinary } from './binaries.ts';
import { spawnManaged, waitFor, type ManagedProcess } from './processes.ts';

/**
 * localstripe binds every interface (`::`, IPv4 and IPv6) and has no option to say otherwise.
 * Its entry point is a Python script: run its `start()` under the same interpreter with the
 * listening socket swapped for one bound to 127.0.0.1, so the emulator — which accepts any key
 * — is reachable from this machine only.
 */
const LOOPBACK_BOOTSTRAP = `
import socket as real, sys, types
import localstripe.server as server
class Loopback(real.socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        super().__init__(real.AF_INET, type, proto, fileno)
    def bind(self, address):
        super().bind(('127.0.0.1', address[1]))
shim = types.SimpleNamespace(**{name: getattr(real, name) for name in dir(real) if not name.startswith('__')})
shim.socket = Loopback
server.socket = shim
sys.argv = ['localstripe'] + sys.argv[1:]
server.start()
`;

/** The Python interpreter of an entry-point script (its `#!` line), or null for anything else. */
function pythonOf(script: string): string | null {
  try {
    const firstLine = readFileSync(script, 'utf8').slice(0, 200).split('\n', 1)[0] ?? '';
    const interpreter = /^#!\s*(\S*python[\d.]*)\s*$/.exec(firstLine)?.[1];
    return interpreter && existsSync(interpreter) ? interpreter : null;
  } catch {
    return null;
  }
}

export interface Localstripe {
  /** What STRIPE_API_URL should be: `http://127.0.0.1:<port>`. */
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Starts the localstripe emulator (resolved like every tool) and waits until it answers the
 * API. `fromScratch` forgets what an earlier run stored (tests); `npm start` keeps it.
 */
export async function startLocalstripe(options: {
  port: number;
  fromScratch?: boolean;
}): Promise<Localstripe> {
  const bin = await resolveBinary('localstripe');
  const args = ['--port', String(options.port), ...(options.fromScratch ? ['--from-scratch'] : [])];
  const python = pythonOf(bin);
  const child = python
    ? spawnManaged(python, ['-c', LOOPBACK_BOOTSTRAP, ...args])
    : spawnManaged(bin, args);
  const url = `http://127.0.0.1:${options.port}`;
  try {
    await waitFor(
      'localstripe',
      async () =>
        (await fetch(`${url}/v1/customers`, { headers: { authorization: 'Bearer sk_test_x' } })).ok,
      { abort: () => child.exitReason() },
    );
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { url, process: child, stop: () => child.stop() };
}
