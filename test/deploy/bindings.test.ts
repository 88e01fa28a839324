// Every local tool the project starts listens on 127.0.0.1 only: the emulators accept any key
// and the dev server has no authentication, so nothing else on the network may reach them.
import { inject, describe, expect, it } from 'vitest';
import { getFreePort } from '../../stack/processes.ts';
import { startLocalstripe } from '../../stack/localstripe.ts';
import { startTemporalDevServer } from '../../stack/temporal-dev-server.ts';
import { isLoopback, listeningSockets, listeningSocketsOf } from '../helpers/sockets.ts';

describe('local tools bind 127.0.0.1', () => {
  it('localstripe (the suite’s, and one started here) listens on loopback only', async () => {
    const suitePort = Number(new URL(inject('stripeApiUrl')).port);
    const suite = listeningSockets().filter((socket) => socket.port === suitePort);
    expect(suite.length).toBeGreaterThan(0);
    expect(suite.map((socket) => socket.address).every(isLoopback)).toBe(true);

    const emulator = await startLocalstripe({ port: await getFreePort(), fromScratch: true });
    try {
      const sockets = listeningSocketsOf(emulator.process.child.pid!);
      expect(sockets.map((socket) => socket.port)).toContain(Number(new URL(emulator.url).port));
      expect(sockets.filter((socket) => !isLoopback(socket.address))).toEqual([]);
    } finally {
      await emulator.stop();
    }
  });

  it('the Temporal dev server with its Web UI (as npm start runs it) listens on loopback only', async () => {
    const server = await startTemporalDevServer({
      port: await getFreePort(),
      uiPort: await getFreePort(),
    });
    try {
      const sockets = listeningSocketsOf(server.process.child.pid!);
      // Frontend, Web UI, HTTP API, metrics and the internal services.
      expect(sockets.length).toBeGreaterThanOrEqual(3);
      expect(sockets.filter((socket) => !isLoopback(socket.address))).toEqual([]);
    } finally {
      await server.stop();
    }
  });
});
