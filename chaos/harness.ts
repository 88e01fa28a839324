// What every chaos scenario is built from: `defineScenario` gives each one its cleanups, its
// verdict and its own deployed stack (stack/deployed-stack.ts: Temporal dev server, database,
// the api and the worker as child processes), so a scenario file reads as its scenario.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Db } from '../db/database.ts';
import { tallyPurchases, type PurchaseTally } from '../db/queries/outcomes.ts';
import { Cleanups } from '../stack/cleanups.ts';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import {
  startDeployedStack,
  type DeployedStack,
  type DeployedStackOptions,
} from '../stack/deployed-stack.ts';
import {
  isSuccess,
  mapLimit,
  runOpenLoad,
  signedWebhookRequest,
  STRIPE_WEBHOOK_PATH,
  type LoadSample,
} from '../stack/load.ts';
import {
  startResendStandIn,
  type ResendStandIn,
  type ResendStandInOptions,
} from '../stack/resend-stand-in.ts';
import { buildPaymentIntentSucceededEvent, stripeTestId } from '../stack/stripe-events.ts';

export type { PurchaseTally } from '../db/queries/outcomes.ts';

export type Scale = 'short' | 'full';

/** What a scenario reports: its verdict, the figures behind it and what went wrong. */
export interface ScenarioResult {
  passed: boolean;
  /** One line of figures, printed after PASS/FAIL and written to docs/RELIABILITY.md. */
  figures: string;
  /** Every violated expectation, in words; empty when the scenario passed. */
  failures: string[];
}

export interface Scenario {
  name: string;
  title: string;
  run(scale: Scale, log: (message: string) => void): Promise<ScenarioResult>;
}

/** Collects expectations; the scenario passes when every one held. */
export interface Verdict {
  expect(ok: boolean, failure: string): void;
}

/** What a scenario's body is given; whatever it starts is stopped when it returns or throws. */
export interface ScenarioContext {
  scale: Scale;
  log: (message: string) => void;
  verdict: Verdict;
  cleanups: Cleanups;
  /** The Resend stand-in as the email provider. */
  startResend: (options?: ResendStandInOptions) => Promise<ResendStandIn>;
  /**
   * The service as deployed, on components of the scenario's own. An api or worker exit the
   * scenario did not cause fails it, and its figures end with the count of such exits.
   */
  startStack: (options?: Omit<DeployedStackOptions, 'name'>) => Promise<DeployedStack>;
}

/** A scenario whose body checks expectations and returns its line of figures. */
export function defineScenario(definition: {
  name: string;
  title: string;
  run(context: ScenarioContext): Promise<string>;
}): Scenario {
  return {
    name: definition.name,
    title: definition.title,
    async run(scale, log) {
      const cleanups = new Cleanups('chaos');
      const failures: string[] = [];
      const verdict: Verdict = {
        expect(ok, failure) {
          if (!ok) failures.push(failure);
        },
      };
      const stacks: DeployedStack[] = [];
      try {
        let figures = await definition.run({
          scale,
          log,
          verdict,
          cleanups,
          async startResend(options) {
            const resend = await startResendStandIn(options);
            cleanups.add('resend stand-in', () => resend.close());
            return resend;
          },
          async startStack(options = {}) {
            const stack = await startDeployedStack(cleanups, { name: 'chaos', ...options });
            stacks.push(stack);
            return stack;
          },
        });
        if (stacks.length > 0) {
          const crashes = stacks.flatMap((stack) => stack.crashes);
          verdict.expect(
            crashes.length === 0,
            `${crashes.length} unplanned process exits (restarted): ${crashes.join('; ')}`,
          );
          figures += `; unplanned exits ${crashes.length}`;
        }
        return { passed: failures.length === 0, figures, failures: [...failures] };
      } finally {
        await cleanups.runAll();
      }
    },
  };
}

/** A purchase of the demo ebook, as Stripe announces it. */
export const purchaseEvent = (paymentIntentId: string, email: string) =>
  buildPaymentIntentSucceededEvent({ paymentIntentId, skus: [DEMO_SKU], email });

/**
 * Posts `purchases` new purchases, ten at a time (buyer `chaos-<label>-<i>@example.com`); their
 * payment intent ids (the purchase keys) and how many were not acknowledged with a 2xx.
 */
export async function postPurchases(
  stack: DeployedStack,
  purchases: number,
  label: string,
): Promise<{ keys: string[]; non2xx: number }> {
  const keys = Array.from({ length: purchases }, () => stripeTestId('pi'));
  const statuses = await mapLimit(keys, 10, (paymentIntentId, index) =>
    stack.postEvent(purchaseEvent(paymentIntentId, `chaos-${label}-${index}@example.com`)),
  );
  return { keys, non2xx: countNot2xx(statuses) };
}

/**
 * Polls until every purchase's tally satisfies `done`; returns the tallies and how long it
 * took, or the last tallies when `timeoutMs` ran out (the scenario then reports what is missing).
 */
export async function waitForTallies(
  db: Db,
  purchaseKeys: readonly string[],
  done: (tally: PurchaseTally) => boolean,
  timeoutMs: number,
  log?: (message: string) => void,
): Promise<{ tallies: Map<string, PurchaseTally>; seconds: number; complete: boolean }> {
  const startedAt = Date.now();
  let reportedAt = startedAt;
  for (;;) {
    const tallies = await tallyPurchases(db, purchaseKeys);
    const finished = [...tallies.values()].filter(done).length;
    const seconds = (Date.now() - startedAt) / 1000;
    if (finished === purchaseKeys.length || Date.now() - startedAt > timeoutMs)
      return { tallies, seconds, complete: finished === purchaseKeys.length };
    if (log && Date.now() - reportedAt > 10_000) {
      log(`${finished} of ${purchaseKeys.length} purchases settled`);
      reportedAt = Date.now();
    }
    await sleep(500);
  }
}

/** A completed fulfillment: one order, its entitlement usable, the delivery email sent. */
export const deliveredOnce = (tally: PurchaseTally): boolean =>
  tally.orders === 1 &&
  tally.jobStatuses.join() === 'completed' &&
  tally.emailKinds.join() === 'delivery' &&
  tally.unsentEmails === 0;

/**
 * Waits up to five minutes for every purchase to be fulfilled exactly once (`deliveredOnce`);
 * the tallies, how long it took and how many were.
 */
export async function waitForFulfillments(
  db: Db,
  purchaseKeys: readonly string[],
  log?: (message: string) => void,
): Promise<Awaited<ReturnType<typeof waitForTallies>> & { fulfilled: number }> {
  const settled = await waitForTallies(db, purchaseKeys, deliveredOnce, 5 * 60_000, log);
  return { ...settled, fulfilled: count(settled.tallies.values(), deliveredOnce) };
}

/** How many sends the provider accepted per idempotency key. */
export function sendsPerKey(
  sent: readonly { idempotencyKey: string | null }[],
): Map<string, number> {
  const counts = new Map<string, number>();
  for (const message of sent) {
    const key = message.idempotencyKey ?? '(none)';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** Idempotency keys the provider sent more than once. */
export const countKeysSentTwice = (sent: readonly { idempotencyKey: string | null }[]): number =>
  count(sendsPerKey(sent).values(), (sends) => sends > 1);

export const count = <T>(items: Iterable<T>, predicate: (item: T) => boolean): number => {
  let total = 0;
  for (const item of items) if (predicate(item)) total += 1;
  return total;
};

/** Answers that were not a 2xx, or no answer at all. */
export const countNot2xx = (statuses: Iterable<number | null>): number =>
  count(statuses, (status) => status === null || status >= 300);

export interface OutageLoad {
  /** Purchase `i` is `events[i]`, for the payment intent `keys[i]`. */
  keys: string[];
  events: ReturnType<typeof purchaseEvent>[];
  samples: LoadSample[];
  acked: LoadSample[];
  refused: LoadSample[];
  /** When `restart` resolved (epoch ms). */
  restartedAt: number;
}

/**
 * Open-loop purchases at `rate` for `beforeSeconds`, through an outage of `outageSeconds`
 * (`stop`, then `restart`) and `afterSeconds` past it; resolves once every request has its
 * answer (or none).
 */
export async function purchasesThroughOutage(
  stack: DeployedStack,
  options: {
    label: string;
    /** What the outage takes down, for the log line. */
    down: string;
    log: (message: string) => void;
    rate: number;
    beforeSeconds: number;
    outageSeconds: number;
    afterSeconds: number;
    stop: () => Promise<void>;
    /** Logged once `stop` resolved. */
    stopped: string;
    restart: () => Promise<void>;
    restarted: string;
  },
): Promise<OutageLoad> {
  const total = Math.round(
    options.rate * (options.beforeSeconds + options.outageSeconds + options.afterSeconds),
  );
  options.log(
    `${total} purchases at ${options.rate}/s; ${options.down} down for ${options.outageSeconds} s`,
  );
  const keys: string[] = [];
  const events: ReturnType<typeof purchaseEvent>[] = [];
  const load = runOpenLoad({
    label: options.label,
    url: `${stack.apiUrl}${STRIPE_WEBHOOK_PATH}`,
    ratePerSecond: options.rate,
    durationSeconds: total / options.rate,
    signal: new AbortController().signal,
    buildRequest: (index) => {
      const paymentIntentId = stripeTestId('pi');
      const event = purchaseEvent(paymentIntentId, `chaos-${options.label}-${index}@example.com`);
      keys[index] = paymentIntentId;
      events[index] = event;
      return signedWebhookRequest(JSON.stringify(event), stack.webhookSecrets[0]!);
    },
  });
  await sleep(options.beforeSeconds * 1000);
  await options.stop();
  options.log(options.stopped);
  await sleep(options.outageSeconds * 1000);
  await options.restart();
  const restartedAt = Date.now();
  options.log(options.restarted);
  const samples = await load;
  return {
    keys,
    events,
    samples,
    acked: samples.filter(isSuccess),
    refused: samples.filter((sample) => !isSuccess(sample)),
    restartedAt,
  };
}

/** As Stripe does: every refused event delivered again; how many of those got a 2xx. */
export async function redeliver(stack: DeployedStack, load: OutageLoad): Promise<number> {
  let accepted = 0;
  for (const sample of load.refused) {
    const status = await stack.postEvent(load.events[sample.index]!);
    if (status !== null && status < 300) accepted += 1;
  }
  return accepted;
}
