import { resolveBinary } from './binaries.ts';
import { spawnManaged, waitFor, type ManagedProcess } from './processes.ts';

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
  const child = spawnManaged(bin, args);
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
