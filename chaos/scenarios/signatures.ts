import { createHmac, randomBytes } from 'node:crypto';
import { buildPaymentIntentSucceededEvent, stripeTestId } from '../../stack/stripe-events.ts';
import {
  Cleanups,
  createVerdict,
  expectNoCrashes,
  postRaw,
  SKU,
  startChaosStack,
  type Scenario,
} from '../harness.ts';

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
    buildPaymentIntentSucceededEvent({
      paymentIntentId: stripeTestId('pi'),
      skus: [SKU],
      email: `chaos-signatures-${randomBytes(4).toString('hex')}@example.com`,
    }),
  );

const CASES: Case[] = [
  {
    name: 'valid',
    genuine: true,
    request: ({ current }) => {
      const payload = newEvent();
      return { payload, signature: header(payload, current, now()) };
    },
  },
  {
    name: 'tampered body',
    genuine: false,
    request: ({ current }) => {
      const payload = newEvent();
      const tampered = payload.replace('"amount":2900', '"amount":1');
      return { payload: tampered, signature: header(payload, current, now()) };
    },
  },
  {
    name: 'wrong secret',
    genuine: false,
    request: ({ wrong }) => {
      const payload = newEvent();
      return { payload, signature: header(payload, wrong, now()) };
    },
  },
  {
    name: 'timestamp 301 s old',
    genuine: false,
    request: ({ current }) => {
      const payload = newEvent();
      return { payload, signature: header(payload, current, now() - 301) };
    },
  },
  {
    name: 'rotated: previous secret',
    genuine: true,
    request: ({ previous }) => {
      const payload = newEvent();
      return { payload, signature: header(payload, previous, now()) };
    },
  },
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
  {
    name: 'rotated: retired secret',
    genuine: false,
    request: ({ retired }) => {
      const payload = newEvent();
      return { payload, signature: header(payload, retired, now()) };
    },
  },
  {
    name: 'clock skew: sender 60 s ahead',
    genuine: true,
    request: ({ current }) => {
      const payload = newEvent();
      return { payload, signature: header(payload, current, now() + 60) };
    },
  },
  {
    name: 'clock skew: sender 240 s behind',
    genuine: true,
    request: ({ current }) => {
      const payload = newEvent();
      return { payload, signature: header(payload, current, now() - 240) };
    },
  },
];

/**
 * 3. Signature edge cases against the api process: tampered body, wrong secret, a timestamp
 * 301 s old, a rotation (old and new secret configured, a retired one not), clock skew within
 * the 300 s tolerance → zero false accepts and zero false rejects.
 */
export const signatures: Scenario = {
  name: 'signatures',
  title: 'tampered body, wrong secret, 301 s old, rotated secret, clock skew',
  async run(scale, log) {
    const cleanups = new Cleanups();
    const verdict = createVerdict();
    const secret = (): string => `whsec_${randomBytes(16).toString('hex')}`;
    const secrets: Secrets = {
      current: secret(),
      previous: secret(),
      retired: secret(),
      wrong: secret(),
    };
    try {
      const stack = await startChaosStack(cleanups, {
        webhookSecrets: [secrets.current, secrets.previous],
      });
      let falseAccepts = 0;
      let falseRejects = 0;
      let requests = 0;
      const perCase: string[] = [];
      log(`${CASES.length} cases × ${ROUNDS[scale]}`);
      for (const kase of CASES) {
        let wrong = 0;
        for (let round = 0; round < ROUNDS[scale]; round += 1) {
          const { payload, signature } = kase.request(secrets);
          const status = await postRaw(stack.apiUrl, payload, signature);
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
      const forged = await stack.db
        .selectFrom('webhook_events')
        .select((eb) => eb.fn.countAll<string>().as('count'))
        .executeTakeFirstOrThrow();
      const genuine = CASES.filter((kase) => kase.genuine).length * ROUNDS[scale];
      verdict.expect(
        Number(forged.count) === genuine,
        `the inbox holds ${forged.count} events; ${genuine} genuine ones were sent`,
      );
      expectNoCrashes(verdict, stack);
      return verdict.result(
        `${requests} requests: false accepts ${falseAccepts}, false rejects ${falseRejects}; ` +
          `inbox ${forged.count} = genuine ${genuine}; ${perCase.join(', ')}; unplanned exits ${stack.crashes.length}`,
      );
    } finally {
      await cleanups.runAll();
    }
  },
};
