import { createHmac, randomBytes } from 'node:crypto';
import { countWebhookEvents } from '../../db/queries/outcomes.ts';
import { postWebhook } from '../../stack/load.ts';
import { stripeTestId } from '../../stack/stripe-events.ts';
import { defineScenario, purchaseEvent } from '../harness.ts';

const ROUNDS = { short: 3, full: 50 };

/** A `Stripe-Signature` header made by hand, so timestamp and body can disagree on purpose. */
function header(payload: string, secret: string, timestamp: number): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`).digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

interface Case {
  name: string;
  /** Whether a correct gateway accepts it. */
  genuine: boolean;
  request(secrets: Secrets): { payload: string; signature: string };
}

interface Secrets {
  /** The new secret and the one being rotated out: the api accepts both. */
  current: string;
  previous: string;
  /** A secret retired before this rotation: no longer configured. */
  retired: string;
  /** Someone else's endpoint secret. */
  wrong: string;
}

const now = (): number => Math.floor(Date.now() / 1000);
const newEvent = (): string =>
  JSON.stringify(
    purchaseEvent(
      stripeTestId('pi'),
      `chaos-signatures-${randomBytes(4).toString('hex')}@example.com`,
    ),
  );

/** A fresh event signed with one of the secrets, its timestamp `offsetSeconds` off now. */
const signedWith =
  (secret: keyof Secrets, offsetSeconds = 0) =>
  (secrets: Secrets): { payload: string; signature: string } => {
    const payload = newEvent();
    return { payload, signature: header(payload, secrets[secret], now() + offsetSeconds) };
  };

const CASES: Case[] = [
  { name: 'valid', genuine: true, request: signedWith('current') },
  {
    name: 'tampered body',
    genuine: false,
    request: ({ current }) => {
      const payload = newEvent();
      const tampered = payload.replace('"amount":2900', '"amount":1');
      return { payload: tampered, signature: header(payload, current, now()) };
    },
  },
  { name: 'wrong secret', genuine: false, request: signedWith('wrong') },
  { name: 'timestamp 301 s old', genuine: false, request: signedWith('current', -301) },
  { name: 'rotated: previous secret', genuine: true, request: signedWith('previous') },
  {
    name: 'rotated: both signatures',
    genuine: true,
    request: ({ current, previous }) => {
      const payload = newEvent();
      const t = now();
      const both = `${header(payload, previous, t)},v1=${header(payload, current, t).split('v1=')[1]}`;
      return { payload, signature: both };
    },
  },
  { name: 'rotated: retired secret', genuine: false, request: signedWith('retired') },
  { name: 'clock skew: sender 60 s ahead', genuine: true, request: signedWith('current', 60) },
  { name: 'clock skew: sender 240 s behind', genuine: true, request: signedWith('current', -240) },
];

/**
 * 3. Signature edge cases against the api process: tampered body, wrong secret, a timestamp
 * 301 s old, a rotation (old and new secret configured, a retired one not), clock skew within
 * the 300 s tolerance → zero false accepts and zero false rejects.
 */
export const signatures = defineScenario({
  name: 'signatures',
  title: 'tampered body, wrong secret, 301 s old, rotated secret, clock skew',
  async run({ scale, log, verdict, startStack }) {
    const secret = (): string => `whsec_${randomBytes(16).toString('hex')}`;
    const secrets: Secrets = {
      current: secret(),
      previous: secret(),
      retired: secret(),
      wrong: secret(),
    };
    const stack = await startStack({ webhookSecrets: [secrets.current, secrets.previous] });
    let falseAccepts = 0;
    let falseRejects = 0;
    let requests = 0;
    const perCase: string[] = [];
    log(`${CASES.length} cases × ${ROUNDS[scale]}`);
    for (const kase of CASES) {
      let wrong = 0;
      for (let round = 0; round < ROUNDS[scale]; round += 1) {
        const { payload, signature } = kase.request(secrets);
        const status = await postWebhook(stack.apiUrl, payload, signature);
        requests += 1;
        const accepted = status !== null && status >= 200 && status < 300;
        const rejected = status === 400;
        if (kase.genuine && !accepted) {
          falseRejects += 1;
          wrong += 1;
        }
        if (!kase.genuine && !rejected) {
          falseAccepts += accepted ? 1 : 0;
          wrong += 1;
        }
      }
      verdict.expect(wrong === 0, `${kase.name}: ${wrong} of ${ROUNDS[scale]} answered wrongly`);
      perCase.push(`${kase.name} ${ROUNDS[scale] - wrong}/${ROUNDS[scale]}`);
    }
    // Every rejection leaves an audit row and nothing else; nothing forged reached the inbox.
    const inbox = await countWebhookEvents(stack.db);
    const genuine = CASES.filter((kase) => kase.genuine).length * ROUNDS[scale];
    verdict.expect(
      inbox === genuine,
      `the inbox holds ${inbox} events; ${genuine} genuine ones were sent`,
    );
    return (
      `${requests} requests: false accepts ${falseAccepts}, false rejects ${falseRejects}; ` +
      `inbox ${inbox} = genuine ${genuine}; ${perCase.join(', ')}`
    );
  },
});
