import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import csrfProtection from '@fastify/csrf-protection';
import formBody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import secureSession from '@fastify/secure-session';
import view from '@fastify/view';
import { Eta } from 'eta';
import type {
  FastifyError,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  preHandlerHookHandler,
} from 'fastify';
import { z } from 'zod';
import { findAlert, type AlertView } from '../../db/queries/alerts.ts';
import { ALERT_STATUSES, listAlerts, type AlertSinks } from '../../support/alerts.ts';
import { OperationError, type OperationsDeps } from '../../support/context.ts';
import { searchJobs, showJob, type JobTimeline } from '../../support/jobs.ts';
import { FULFILLMENT_STATUSES } from '../../workflows/contracts.ts';
import { roleAllows } from '../operator-auth.ts';
import {
  ALERT_ACTIONS,
  PURCHASE_ACTIONS,
  type ActionOutcome,
  type ConsoleAction,
} from './actions.ts';
import {
  SignInRefused,
  type ConsoleAgent,
  type ConsoleSignIn,
  type PendingSignIn,
} from './sign-in.ts';

declare module '@fastify/secure-session' {
  interface SessionData {
    /** The signed-in agent; absent before sign-in. */
    agent: ConsoleAgent;
    /** Between the redirect to the issuer and its callback. */
    pending: PendingSignIn;
    /** One message for the next page (what an action did, why sign-in failed). */
    flash: { kind: 'success' | 'error'; text: string };
    _csrf: string;
  }
}

export interface ConsoleOptions {
  operations: OperationsDeps;
  /** Where acknowledging or resolving an alert is announced (as the admin API does). */
  alertSinks: AlertSinks;
  signIn: ConsoleSignIn;
  /** CONSOLE_SESSION_SECRETS: the first seals sessions, every one opens them. */
  sessionSecrets: readonly string[];
  /** Where the issuer is, for the sign-in page ("Sign in with …"). */
  issuerName: string;
}

/** A working day: an agent signs in again the next morning. */
const SESSION_SECONDS = 8 * 60 * 60;
const PAGE_SIZE = 20;
const TIMELINE_PAGE_SIZE = 50;
const VIEWS = new URL('./views/', import.meta.url);
const STYLESHEET = readFileSync(new URL('./assets/console.css', import.meta.url), 'utf8');

/**
 * The pages' Content-Security-Policy: the console's own stylesheet, no script at all, forms
 * only to itself, never framed.
 */
export const CONSOLE_CSP_DIRECTIVES = {
  defaultSrc: ["'none'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'"],
  scriptSrc: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
  baseUri: ["'none'"],
};

/** A 32-byte session key from a secret of 32+ characters (HKDF-SHA256). */
const sessionKey = (secret: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secret, 'fulfillment-console', 'session cookie', 32));

const searchQuery = z.object({
  email: z.string().trim().max(320).optional(),
  order: z.string().trim().max(200).optional(),
  payment_intent: z.string().trim().max(200).optional(),
  status: z.union([z.enum(FULFILLMENT_STATUSES), z.literal('')]).optional(),
  page: z.coerce.number().int().min(1).max(10_000).default(1),
});
const reasonField = z
  .string({ error: 'reason: say why' })
  .trim()
  .min(3, 'reason: say why (3+ characters)')
  .max(500, 'reason: 500 characters at most');
const actionForm = z.object({ reason: reasonField, step: z.enum(['review', 'confirm']) });
const referenceParams = z.object({ ref: z.string().trim().min(1).max(200) });
const alertParams = z.object({ id: z.string().regex(/^\d{1,18}$/, 'an alert id (digits)') });
const alertsQuery = z.object({
  status: z.union([z.enum(ALERT_STATUSES), z.literal('any')]).default('open'),
  kind: z.string().trim().max(100).optional(),
  before: z
    .string()
    .regex(/^\d{1,18}$/, 'before: an alert id (digits)')
    .optional(),
});

const firstProblem = (error: z.ZodError) => {
  const issue = error.issues[0]!;
  return issue.message.includes(':') || issue.path.length === 0
    ? issue.message
    : `${issue.path.join('.')}: ${issue.message}`;
};

/** Parameters from a form: only string fields (the form-body parser gives strings or arrays). */
const formFields = (body: unknown): Record<string, string> =>
  Object.fromEntries(
    Object.entries(typeof body === 'object' && body !== null ? body : {}).filter(
      (entry): entry is [string, string] => typeof entry[1] === 'string',
    ),
  );

/**
 * `/console`: the support console. Agents sign in through OpenID Connect; their session is an
 * encrypted, HttpOnly, SameSite=Lax cookie (no server-side state, so any replica serves it);
 * every form carries a CSRF token; the pages are server-rendered Eta templates under a CSP
 * without scripts. Actions call the same support/ functions as the admin API, audited as the
 * agent (their email, else their subject) in their role.
 */
export const registerConsole: FastifyPluginAsync<ConsoleOptions> = async (app, options) => {
  const { operations, signIn } = options;
  const actionDeps = { operations, alertSinks: options.alertSinks };
  await app.register(secureSession, {
    key: options.sessionSecrets.map(sessionKey),
    cookieName: 'console_session',
    expiry: SESSION_SECONDS,
    cookie: { path: '/console', httpOnly: true, secure: true, sameSite: 'lax' },
  });
  await app.register(csrfProtection, { sessionPlugin: '@fastify/secure-session' });
  await app.register(formBody, { bodyLimit: 16 * 1024 });
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: CONSOLE_CSP_DIRECTIVES },
    // The console is same-origin only; the api's own headers cover the rest.
    crossOriginEmbedderPolicy: false,
  });
  await app.register(view, {
    engine: { eta: new Eta({ views: VIEWS.pathname, cache: true }) },
    templates: VIEWS.pathname,
    defaultContext: { issuerName: options.issuerName, when, details, lowerFirst },
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    // Pages show buyers' data: never kept by a browser or a proxy.
    reply.header('cache-control', 'no-store');
    return payload;
  });

  /** Renders a page with the agent, a fresh CSRF token and the pending flash message. */
  const page = async (
    request: FastifyRequest,
    reply: FastifyReply,
    template: string,
    data: Record<string, unknown>,
    status = 200,
  ) => {
    const flash = request.session.get('flash');
    if (flash) request.session.set('flash', undefined);
    return reply.code(status).view(template, {
      agent: request.session.get('agent') ?? null,
      csrfToken: reply.generateCsrf(),
      flash: flash ?? null,
      ...data,
    });
  };

  const errorPage = (
    request: FastifyRequest,
    reply: FastifyReply,
    status: number,
    title: string,
    message: string,
  ) => page(request, reply, 'error', { title, message, status }, status);

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    const status = error.statusCode ?? 500;
    if (error.code === 'FST_CSRF_MISSING_SECRET' || error.code === 'FST_CSRF_INVALID_TOKEN')
      return errorPage(
        request,
        reply,
        403,
        'Request refused',
        'This form did not come from the console page you are signed in to (its CSRF token is missing or wrong). Go back, reload the page and try again.',
      );
    if (status < 500) return errorPage(request, reply, status, 'Bad request', error.message);
    request.log.error({ err: error }, 'console request failed');
    return errorPage(
      request,
      reply,
      500,
      'Something went wrong',
      `The console could not complete this request. Nothing is lost: try again, or give engineering the request id ${request.id}.`,
    );
  });

  /** Admits a signed-in agent; else sends a page to the sign-in (GET) or answers 401. */
  const requireAgent = async (request: FastifyRequest, reply: FastifyReply) => {
    if (request.session.get('agent')) return;
    if (request.method === 'GET')
      return reply.redirect(`/console/sign-in?return_to=${encodeURIComponent(request.url)}`, 303);
    return errorPage(request, reply, 401, 'Signed out', 'Your session ended: sign in again.');
  };
  /** Refuses a form without the session's CSRF token (403, the error handler's page). */
  const csrf: preHandlerHookHandler = (request, reply, done) =>
    app.csrfProtection(request, reply, done);
  const agentOf = (request: FastifyRequest): ConsoleAgent => request.session.get('agent')!;

  app.get('/console/assets/console.css', async (_request, reply) =>
    reply.type('text/css; charset=utf-8').send(STYLESHEET),
  );

  app.get('/console', async (request, reply) =>
    reply.redirect(request.session.get('agent') ? '/console/purchases' : '/console/sign-in', 303),
  );

  app.get('/console/sign-in', async (request, reply) => {
    const returnTo = safeReturnTo((request.query as { return_to?: unknown }).return_to);
    return page(request, reply, 'sign-in', {
      title: 'Sign in',
      startUrl: `/console/auth/start?return_to=${encodeURIComponent(returnTo)}`,
    });
  });

  app.get('/console/auth/start', async (request, reply) => {
    const returnTo = safeReturnTo((request.query as { return_to?: unknown }).return_to);
    let started;
    try {
      started = await signIn.start(returnTo);
    } catch (error) {
      request.log.warn({ err: error }, 'console sign-in: the issuer is unreachable');
      return errorPage(
        request,
        reply,
        503,
        'Sign-in is unavailable',
        `The sign-in service (${options.issuerName}) does not answer. Try again in a minute.`,
      );
    }
    request.session.set('pending', started.pending);
    return reply.redirect(started.url, 303);
  });

  app.get('/console/auth/callback', async (request, reply) => {
    const pending = request.session.get('pending');
    if (!pending) {
      request.session.set('flash', {
        kind: 'error',
        text: 'That sign-in link had expired. Sign in again.',
      });
      return reply.redirect('/console/sign-in', 303);
    }
    request.session.set('pending', undefined);
    let agent: ConsoleAgent;
    try {
      agent = await signIn.finish(request.url.split('?')[1] ?? '', pending);
    } catch (error) {
      request.log.warn({ err: error }, 'console sign-in refused');
      request.session.set('flash', {
        kind: 'error',
        text:
          error instanceof SignInRefused
            ? `Sign-in refused: ${error.message}.`
            : 'Sign-in failed: the answer from the sign-in service could not be verified. Try again.',
      });
      return reply.redirect('/console/sign-in', 303);
    }
    // A new session for the agent: nothing from before sign-in carries over (fixation).
    request.session.regenerate();
    request.session.set('agent', agent);
    return reply.redirect(pending.returnTo, 303);
  });

  app.post('/console/sign-out', { preHandler: csrf }, async (request, reply) => {
    request.session.delete();
    return reply.redirect('/console/sign-in', 303);
  });

  app.get('/console/purchases', { preHandler: requireAgent }, async (request, reply) => {
    const parsed = searchQuery.safeParse(request.query);
    if (!parsed.success)
      return page(
        request,
        reply,
        'search',
        {
          title: 'Purchases',
          query: {},
          statuses: FULFILLMENT_STATUSES,
          error: firstProblem(parsed.error),
          result: null,
        },
        400,
      );
    const q = parsed.data;
    const searched = Boolean(q.email || q.order || q.payment_intent || q.status);
    const result = await searchJobs(operations.db, {
      email: q.email || undefined,
      order: q.order || undefined,
      paymentIntent: q.payment_intent || undefined,
      status: q.status || undefined,
      limit: PAGE_SIZE,
      offset: (q.page - 1) * PAGE_SIZE,
    });
    const pageUrl = (n: number) =>
      `/console/purchases?${new URLSearchParams({
        ...(q.email ? { email: q.email } : {}),
        ...(q.order ? { order: q.order } : {}),
        ...(q.payment_intent ? { payment_intent: q.payment_intent } : {}),
        ...(q.status ? { status: q.status } : {}),
        page: String(n),
      }).toString()}`;
    return page(request, reply, 'search', {
      title: 'Purchases',
      query: q,
      searched,
      statuses: FULFILLMENT_STATUSES,
      error: null,
      result,
      pageNumber: q.page,
      previousUrl: q.page > 1 ? pageUrl(q.page - 1) : null,
      nextUrl: result.hasMore ? pageUrl(q.page + 1) : null,
    });
  });

  /** The actions an agent sees on a target: their role's, where the target offers them. */
  const offered = <Target>(
    request: FastifyRequest,
    actions: readonly ConsoleAction<Target>[],
    target: Target,
  ) => {
    const agent = agentOf(request);
    return {
      actions: actions.filter(
        (action) =>
          roleAllows(agent.role, action.minimumRole) && (action.applies?.(target) ?? true),
      ),
      /** What the agent's role keeps from them, named so they know whom to ask. */
      hiddenActions: actions
        .filter((action) => !roleAllows(agent.role, action.minimumRole))
        .map((action) => action.label),
      formError: null,
      formValues: {},
    };
  };

  /** The purchase page, with its actions' forms. */
  const purchasePage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    purchase: JobTimeline,
    extra: Record<string, unknown> = {},
    status = 200,
  ) => {
    const timelinePages = Math.max(1, Math.ceil(purchase.timeline.length / TIMELINE_PAGE_SIZE));
    const requested = Number((request.query as { page?: string }).page ?? timelinePages);
    const timelinePage = Number.isInteger(requested)
      ? Math.min(Math.max(requested, 1), timelinePages)
      : timelinePages;
    return page(
      request,
      reply,
      'purchase',
      {
        title: `Purchase ${purchase.purchaseKey}`,
        purchase,
        base: purchaseUrl(purchase),
        ...offered(request, PURCHASE_ACTIONS, purchase),
        timeline: purchase.timeline.slice(
          (timelinePage - 1) * TIMELINE_PAGE_SIZE,
          timelinePage * TIMELINE_PAGE_SIZE,
        ),
        timelinePage,
        timelinePages,
        ...extra,
      },
      status,
    );
  };

  /** The purchase a path names, or the not-found page. */
  const loadPurchase = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = referenceParams.safeParse(request.params);
    if (!params.success) {
      await errorPage(request, reply, 400, 'Bad request', firstProblem(params.error));
      return null;
    }
    try {
      return await showJob(operations, params.data.ref);
    } catch (error) {
      if (error instanceof OperationError && error.kind === 'not_found') {
        await errorPage(request, reply, 404, 'No such purchase', error.message);
        return null;
      }
      throw error;
    }
  };

  /** The alert page: what was raised, who took it, its deliveries and its actions' forms. */
  const alertPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    alert: AlertView,
    extra: Record<string, unknown> = {},
    status = 200,
  ) =>
    page(
      request,
      reply,
      'alert',
      {
        title: `Alert ${alert.id}`,
        alert,
        base: alertUrl(alert),
        ...offered(request, ALERT_ACTIONS, alert),
        ...extra,
      },
      status,
    );

  /** The alert a path names, or the not-found page. */
  const loadAlert = async (request: FastifyRequest, reply: FastifyReply) => {
    const params = alertParams.safeParse(request.params);
    if (!params.success) {
      await errorPage(request, reply, 400, 'Bad request', `id: ${firstProblem(params.error)}`);
      return null;
    }
    const alert = await findAlert(operations.db, params.data.id);
    if (!alert)
      await errorPage(request, reply, 404, 'No such alert', `No alert ${params.data.id}.`);
    return alert;
  };

  /**
   * One action's form posted, for either step: `review` answers the confirmation page,
   * `confirm` runs it as the agent and answers its outcome — a sentence on the target's page
   * (303), or a report read once on the answer page itself. Role first, then the target, the
   * form and the inputs; a refusal of the support/ operation returns to the target's page.
   */
  const performAction = async <Target>(
    request: FastifyRequest,
    reply: FastifyReply,
    on: {
      actions: readonly ConsoleAction<Target>[];
      /** The target the path names; null once the not-found page was sent. */
      load(): Promise<Target | null>;
      /** The target's page: forms post to `<url>/actions/<id>`, outcomes return to it. */
      url(target: Target): string;
      /** How the confirmation and outcome pages name the target. */
      subject(target: Target): { label: string; value: string; detail: string };
      /** The target's page with a problem shown on one action's form (400). */
      formPage(target: Target, extra: Record<string, unknown>): Promise<FastifyReply>;
    },
  ) => {
    const agent = agentOf(request);
    const action = on.actions.find((a) => a.id === (request.params as { action: string }).action);
    if (!action)
      return errorPage(request, reply, 404, 'No such action', 'The console has no such action.');
    if (!roleAllows(agent.role, action.minimumRole))
      return errorPage(
        request,
        reply,
        403,
        'Not allowed',
        `“${action.label}” needs the ${action.minimumRole} role; you are signed in as ${agent.role}.`,
      );
    const target = await on.load();
    if (!target) return reply;
    const base = on.url(target);
    if (action.applies && !action.applies(target)) {
      request.session.set('flash', {
        kind: 'error',
        text: `${action.label} is not offered here now (its state changed); reload and check.`,
      });
      return reply.redirect(base, 303);
    }
    const fields = formFields(request.body);
    const form = actionForm.safeParse(fields);
    const input = action.input.safeParse(fields);
    const problem = !form.success
      ? firstProblem(form.error)
      : !input.success
        ? firstProblem(input.error)
        : action.mismatch?.(target, input.data);
    if (problem || !form.success || !input.success)
      return on.formPage(target, {
        formError: { action: action.id, message: problem },
        formValues: fields,
      });
    if (form.data.step === 'review')
      return page(request, reply, 'confirm', {
        title: `Confirm: ${action.label}`,
        subject: on.subject(target),
        target,
        action,
        base,
        reason: form.data.reason,
        fields,
      });
    let outcome: ActionOutcome;
    try {
      outcome = await action.run(actionDeps, target, input.data, {
        operator: { name: agent.name, role: agent.role },
        reason: form.data.reason,
      });
    } catch (error) {
      if (!(error instanceof OperationError)) throw error;
      request.session.set('flash', {
        kind: 'error',
        text: `${action.label} was refused: ${error.message}`,
      });
      return reply.redirect(base, 303);
    }
    if (typeof outcome === 'string') {
      request.session.set('flash', { kind: 'success', text: outcome });
      return reply.redirect(base, 303);
    }
    // Not kept in the session: a temporary link is shown here once, and never again.
    return page(request, reply, 'outcome', {
      title: action.label,
      subject: on.subject(target),
      action,
      base,
      outcome,
    });
  };

  app.get('/console/purchases/:ref', { preHandler: requireAgent }, async (request, reply) => {
    const purchase = await loadPurchase(request, reply);
    if (!purchase) return reply;
    return purchasePage(request, reply, purchase);
  });

  app.post(
    '/console/purchases/:ref/actions/:action',
    { preHandler: [requireAgent, csrf] },
    async (request, reply) =>
      performAction(request, reply, {
        actions: PURCHASE_ACTIONS,
        load: () => loadPurchase(request, reply),
        url: purchaseUrl,
        subject: (purchase) => ({
          label: 'Purchase',
          value: purchase.purchaseKey,
          detail: purchase.email,
        }),
        formPage: (purchase, extra) => purchasePage(request, reply, purchase, extra, 400),
      }),
  );

  app.get('/console/alerts', { preHandler: requireAgent }, async (request, reply) => {
    const parsed = alertsQuery.safeParse(request.query);
    if (!parsed.success)
      return errorPage(request, reply, 400, 'Bad request', firstProblem(parsed.error));
    const q = parsed.data;
    const result = await listAlerts(operations.db, {
      status: q.status === 'any' ? undefined : q.status,
      kind: q.kind || undefined,
      before: q.before,
      limit: PAGE_SIZE,
    });
    const filter = {
      status: q.status,
      ...(q.kind ? { kind: q.kind } : {}),
    };
    return page(request, reply, 'alerts', {
      title: 'Alerts',
      query: q,
      statuses: ALERT_STATUSES,
      alerts: result.items,
      firstUrl: q.before ? `/console/alerts?${new URLSearchParams(filter).toString()}` : null,
      nextUrl: result.next
        ? `/console/alerts?${new URLSearchParams({ ...filter, before: result.next }).toString()}`
        : null,
    });
  });

  app.get('/console/alerts/:id', { preHandler: requireAgent }, async (request, reply) => {
    const alert = await loadAlert(request, reply);
    if (!alert) return reply;
    return alertPage(request, reply, alert);
  });

  app.post(
    '/console/alerts/:id/actions/:action',
    { preHandler: [requireAgent, csrf] },
    async (request, reply) =>
      performAction(request, reply, {
        actions: ALERT_ACTIONS,
        load: () => loadAlert(request, reply),
        url: alertUrl,
        subject: (alert) => ({ label: 'Alert', value: alert.id, detail: alert.summary }),
        formPage: (alert, extra) => alertPage(request, reply, alert, extra, 400),
      }),
  );
};

const purchaseUrl = (purchase: JobTimeline) =>
  `/console/purchases/${encodeURIComponent(purchase.purchaseKey)}`;
const alertUrl = (alert: AlertView) => `/console/alerts/${alert.id}`;

/** A time as agents read it: UTC to the second. */
function when(at: Date): string {
  return `${at.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A timeline entry's detail as `key: value` pairs, leaving out what is empty. */
function details(detail: Record<string, unknown>): string {
  return Object.entries(detail)
    .filter(([, value]) => value !== null && value !== undefined && value !== '')
    .map(
      ([key, value]) =>
        `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value as string | number | boolean)}`,
    )
    .join(' · ');
}

/** A label inside a sentence ("Review: resend download links…"); acronyms keep their case. */
function lowerFirst(label: string): string {
  return label.charAt(0).toLowerCase() + label.slice(1);
}

/** Only a console path: the return address must not send the agent elsewhere. */
function safeReturnTo(value: unknown): string {
  return typeof value === 'string' &&
    /^\/console(\/[^\\]*)?$/.test(value) &&
    !value.startsWith('//')
    ? value
    : '/console/purchases';
}
