import { Client, Connection, type TLSConfig } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client/index.js';
import type { TemporalSettingNames } from '../config/temporal-connection.ts';
import { FULFILLMENT_TASK_QUEUE } from '../workflows/contracts.ts';

export interface TemporalTarget {
  address: string;
  namespace: string;
  /** The task queue workers poll and starts name (TEMPORAL_TASK_QUEUE; default `fulfillment`). */
  taskQueue?: string;
  /** Encrypts payloads (temporal/data-converter.ts); every client and worker must share it. */
  dataConverter?: DataConverter;
  /** TLS (mTLS with a client certificate pair), from TEMPORAL_TLS_* or the profile. */
  tls?: TLSConfig | boolean;
  /** Sent as `Authorization: Bearer …` (Temporal Cloud API keys). */
  apiKey?: string;
  /** Extra gRPC headers (TEMPORAL_GRPC_META_*). */
  metadata?: Record<string, string>;
  /** Where each part came from, so a refused connection names what to fix. */
  settingNames?: TemporalSettingNames;
}

/** What both connection kinds (the client's and the worker's native one) are opened with. */
export function connectionOptions(target: TemporalTarget): {
  address: string;
  tls?: TLSConfig | boolean;
  apiKey?: string;
  metadata?: Record<string, string>;
} {
  return {
    address: target.address,
    ...(target.tls !== undefined ? { tls: target.tls } : {}),
    ...(target.apiKey !== undefined ? { apiKey: target.apiKey } : {}),
    ...(target.metadata ? { metadata: target.metadata } : {}),
  };
}

/**
 * gRPC's default reconnect backoff grows to two minutes; capped at 5 s, the api notices a
 * Temporal that came back within seconds, and the relay drains the backlog right away.
 */
const channelArgs = {
  'grpc.initial_reconnect_backoff_ms': 500,
  'grpc.max_reconnect_backoff_ms': 5_000,
};

/**
 * Every workflow start, signal and query is a span that carries the active trace into the
 * workflow's headers (W3C trace context), so the workflow and its activities join the trace of
 * whatever started them — a webhook request, an operator's command. A no-op with tracing off.
 */
const interceptors = () => ({ workflow: [new OpenTelemetryWorkflowClientInterceptor()] });

/** The task queue each client's starts name: the one of the target it was made for. */
const taskQueues = new WeakMap<Client, string>();

/** The task queue `client`'s workflow starts name (its target's, else `fulfillment`). */
export function taskQueueOf(client: Client): string {
  return taskQueues.get(client) ?? FULFILLMENT_TASK_QUEUE;
}

/**
 * `client` with its starts on `taskQueue`: for a client the SDK made (an activity's
 * `Context.current().client`), whose starts belong on the worker's own task queue.
 */
export function onTaskQueue(client: Client, taskQueue: string): Client {
  taskQueues.set(client, taskQueue);
  return client;
}

function clientFor(target: TemporalTarget, connection: Client['connection']): Client {
  const client = new Client({
    connection,
    namespace: target.namespace,
    interceptors: interceptors(),
    ...(target.dataConverter ? { dataConverter: target.dataConverter } : {}),
  });
  if (target.taskQueue) taskQueues.set(client, target.taskQueue);
  return client;
}

/** A client on its own connection; close it with `client.connection.close()`. */
export async function connectTemporalClient(target: TemporalTarget): Promise<Client> {
  return clientFor(target, await Connection.connect({ ...connectionOptions(target), channelArgs }));
}

/**
 * A client whose connection is made on first use, so a process can start (and record
 * webhooks) while Temporal is still down.
 */
export function lazyTemporalClient(target: TemporalTarget): Client {
  return clientFor(target, Connection.lazy({ ...connectionOptions(target), channelArgs }));
}

/** Calls `withinTimeout` gave up on that have not settled yet (they may still be retrying). */
const abandonedCalls = new Set<Promise<unknown>>();

/**
 * Rejects when `call` has not settled within `ms`. gRPC deadlines do not bound a lazy
 * client's first connection attempt, so callers that must answer quickly (a webhook, a
 * readiness probe) race the call against this instead; the call itself may still land later
 * (`closeTemporalClient` waits for it).
 */
export async function withinTimeout<T>(call: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([call, timeout]);
  } finally {
    clearTimeout(timer);
    const settled = call.then(
      () => undefined,
      () => undefined,
    );
    abandonedCalls.add(settled);
    void settled.finally(() => abandonedCalls.delete(settled));
  }
}

/**
 * How long closing waits for abandoned calls: each runs under a 5 s gRPC deadline, and the
 * SDK's retry interceptor waits at most a few seconds more before noticing it has passed.
 */
const ABANDONED_CALLS_GRACE_MS = 12_000;

/**
 * Closes a client's connection once the calls `withinTimeout` abandoned have settled. The
 * SDK's gRPC retry interceptor schedules the next attempt on a timer and, should the channel be
 * closed meanwhile, throws "Channel has been shut down" from that timer, outside any promise:
 * an uncaught exception at shutdown. Waiting for the abandoned calls (bounded) avoids it.
 */
export async function closeTemporalClient(client: Client): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled([...abandonedCalls]),
    new Promise((resolve) => {
      timer = setTimeout(resolve, ABANDONED_CALLS_GRACE_MS);
    }),
  ]);
  clearTimeout(timer);
  await client.connection.close();
}
