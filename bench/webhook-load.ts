// The webhook benchmark's load generator, a process of its own (as Stripe is): reads a plan
// (JSON, argv[2]), sends signed deliveries open-loop and writes every sample to argv[3] as
// JSON. Phases, in order:
//   saturate      fresh purchases to ours only, so the worker has a backlog (not counted)
//   interleaved   fresh purchases, alternating slices between bare and ours at one rate
//   duplicates    redeliveries (re-signed, as Stripe does) of events ours acknowledged
// Started by bench/webhooks.ts: `webhook-load.ts <plan.json> <samples.json>`.
import { readFile, writeFile } from 'node:fs/promises';
import { DEMO_SKU } from '../stack/demo-catalog.ts';
import { runOpenLoad, signedWebhookRequest, STRIPE_WEBHOOK_PATH } from '../stack/load.ts';
import { buildPaymentIntentSucceededEvent } from '../stack/stripe-events.ts';

export interface WebhookLoadPlan {
  oursUrl: string;
  bareUrl: string;
  secret: string;
  ratePerSecond: number;
  saturateSeconds: number;
  /** Per endpoint: the interleaved phase lasts twice this. */
  durationSeconds: number;
  sliceSeconds: number;
  dupDurationSeconds: number;
}

export type WebhookLoadTarget = 'ours' | 'bare' | 'duplicates' | 'saturate';

export interface WebhookLoadSample {
  target: WebhookLoadTarget;
  eventId: string;
  status: number | null;
  error: string | null;
  latencyMs: number;
  sendLagMs: number;
  /** Wall-clock time (epoch ms) the answer ended. */
  answeredAt: number;
  duplicateAck: boolean;
}

const [planFile, samplesFile] = process.argv.slice(2);
if (!planFile || !samplesFile) {
  console.error('usage: webhook-load.ts <plan.json> <samples.json>');
  process.exit(2);
}
const plan = JSON.parse(await readFile(planFile, 'utf8')) as WebhookLoadPlan;
const log = (message: string): void => console.log(`[load] ${message}`);
const report = { everySeconds: 10, log };
const signal = new AbortController().signal;
process.once('SIGTERM', () => process.exit(143));

let counter = 0;
/** A new purchase: its own event, payment intent and buyer email. */
function freshPurchase(): { eventId: string; payload: string } {
  counter += 1;
  const event = buildPaymentIntentSucceededEvent({
    skus: [DEMO_SKU],
    email: `bench-${process.pid}-${counter}@example.com`,
  });
  return { eventId: event.id, payload: JSON.stringify(event) };
}

const isDuplicateAck = (body: string): boolean => {
  try {
    return (JSON.parse(body) as { duplicate?: unknown }).duplicate === true;
  } catch {
    return false;
  }
};

const samples: WebhookLoadSample[] = [];

async function phase(
  label: string,
  durationSeconds: number,
  next: (index: number) => { target: WebhookLoadTarget; eventId: string; payload: string },
): Promise<void> {
  const sent: { target: WebhookLoadTarget; eventId: string }[] = [];
  const results = await runOpenLoad({
    label,
    url: `${plan.oursUrl}${STRIPE_WEBHOOK_PATH}`,
    ratePerSecond: plan.ratePerSecond,
    durationSeconds,
    signal,
    report,
    buildRequest: (index) => {
      const { target, eventId, payload } = next(index);
      sent[index] = { target, eventId };
      const base = target === 'bare' ? plan.bareUrl : plan.oursUrl;
      return {
        ...signedWebhookRequest(payload, plan.secret),
        url: `${base}${STRIPE_WEBHOOK_PATH}`,
      };
    },
  });
  for (const result of results) {
    const { target, eventId } = sent[result.index]!;
    samples.push({
      target,
      eventId,
      status: result.status,
      error: result.error,
      latencyMs: result.latencyMs,
      sendLagMs: result.sendLagMs,
      answeredAt: result.answeredAt,
      duplicateAck: isDuplicateAck(result.body),
    });
  }
}

const oursPayloads = new Map<string, string>();
log(`saturating the worker: ours at ${plan.ratePerSecond} req/s for ${plan.saturateSeconds} s`);
await phase('saturate', plan.saturateSeconds, () => ({ target: 'saturate', ...freshPurchase() }));

// Slices alternate bare, ours, bare, …: both meet the same worker backlog and machine load.
const perSlice = Math.max(1, Math.round(plan.sliceSeconds * plan.ratePerSecond));
log(`interleaved: bare and ours in ${plan.sliceSeconds} s slices, ${plan.durationSeconds} s each`);
await phase('interleaved', plan.durationSeconds * 2, (index) => {
  const target = Math.floor(index / perSlice) % 2 === 0 ? 'bare' : 'ours';
  const purchase = freshPurchase();
  if (target === 'ours') oursPayloads.set(purchase.eventId, purchase.payload);
  return { target, ...purchase };
});

const acknowledged = samples
  .filter((sample) => sample.target === 'ours' && sample.status === 200)
  .map((sample) => sample.eventId);
if (acknowledged.length === 0) {
  console.error('ours acknowledged no event: nothing to redeliver');
  process.exit(1);
}
log(`duplicates: redelivering ours' events for ${plan.dupDurationSeconds} s`);
await phase('duplicates', plan.dupDurationSeconds, (index) => {
  const eventId = acknowledged[index % acknowledged.length]!;
  return { target: 'duplicates', eventId, payload: oursPayloads.get(eventId)! };
});

await writeFile(samplesFile, JSON.stringify(samples));
log(`wrote ${samples.length} samples`);
process.exit(0);
