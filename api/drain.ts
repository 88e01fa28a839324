import type { FastifyInstance } from 'fastify';

/**
 * Graceful shutdown of the api: the moment it is asked to stop, /readyz answers 503 (the load
 * balancer takes the instance out) while requests already in flight run to their end; then the
 * server closes with the relay and the pools. Probes and metrics are not counted as work.
 */
export interface Drain {
  /** Why the api is not taking traffic, or null while it is. */
  readonly reason: string | null;
  /** Requests in flight other than probes and metrics. */
  readonly inFlight: number;
}

const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

interface DrainState extends Drain {
  reason: string | null;
  inFlight: number;
  idle: (() => void)[];
}

const drains = new WeakMap<FastifyInstance, DrainState>();

/** Counts in-flight requests of `app` (call once, in buildApp, before any route). */
export function trackDrain(app: FastifyInstance): Drain {
  const state: DrainState = { reason: null, inFlight: 0, idle: [] };
  const settle = (): void => {
    state.inFlight -= 1;
    if (state.inFlight === 0) for (const resolve of state.idle.splice(0)) resolve();
  };
  // A request is done once its handler has answered (onSend) and its socket let go of the
  // response (finished, or closed by a client that gave up). A client that gave up does not
  // end the work it started — recording a webhook, holding a pooled connection — so the
  // request counts until its handler answers.
  const tracked = new WeakMap<object, { answered: boolean; closed: boolean; done: boolean }>();
  const check = (request: object): void => {
    const entry = tracked.get(request);
    if (!entry || entry.done || !entry.answered || !entry.closed) return;
    entry.done = true;
    settle();
  };
  app.addHook('onRequest', async (request, reply) => {
    if (PROBES.has(request.url.split('?', 1)[0] ?? '')) return;
    state.inFlight += 1;
    tracked.set(request, { answered: false, closed: false, done: false });
    reply.raw.once('close', () => {
      tracked.get(request)!.closed = true;
      check(request);
    });
  });
  app.addHook('onSend', async (request, _reply, payload) => {
    const entry = tracked.get(request);
    if (entry) {
      entry.answered = true;
      check(request);
    }
    return payload;
  });
  drains.set(app, state);
  return state;
}

/**
 * Stops `app` gracefully: readiness turns 503 with `reason` at once, requests in flight get up
 * to `graceMs` to finish while the server still listens (so probes see the 503), then the
 * server closes — idle keep-alive sockets at once, every remaining socket when the grace is
 * spent — and the onClose hooks release the relay, the Temporal client and the pools.
 * Resolves with the number of requests that were still running when the grace ran out.
 */
export async function closeGracefully(
  app: FastifyInstance,
  { graceMs, reason = 'shutting down' }: { graceMs: number; reason?: string },
): Promise<{ cutRequests: number }> {
  const state = drains.get(app);
  const deadline = Date.now() + graceMs;
  let cutRequests = 0;
  if (state) {
    state.reason = reason;
    if (state.inFlight > 0) {
      app.log.info({ inFlight: state.inFlight, graceMs }, 'draining in-flight requests');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        state.idle.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      cutRequests = state.inFlight;
    }
  }
  // Whatever is still open when the grace is spent is cut, so close() cannot hang on a
  // request that never ends (a held lock, a client that stopped reading).
  const force = setTimeout(
    () => app.server.closeAllConnections(),
    Math.max(0, deadline - Date.now()),
  );
  try {
    await app.close();
  } finally {
    clearTimeout(force);
  }
  if (cutRequests > 0) app.log.warn({ cutRequests }, 'shutdown grace spent; requests were cut');
  return { cutRequests };
}
