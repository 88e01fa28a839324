import http from 'node:http';
import { listenOnLoopback } from './processes.ts';

/**
 * Stand-ins for the alert sinks' SaaS APIs (they cannot run here), each bound to 127.0.0.1 on a
 * free port and implementing what its provider documents and nothing more. Each test of the
 * outbox path can take one down (`down(503)`) and bring it back (`up()`).
 * test/alerts/sinks-contract.test.ts pins each one to its provider's documented API.
 *
 * - Slack incoming webhooks (api.slack.com/messaging/webhooks): `POST` to the hook's secret
 *   path `/services/T…/B…/…`, JSON with `text`; `200 ok` (text/plain); `400 invalid_payload`
 *   (not JSON), `400 no_text`, `404 no_service` (unknown hook), `403 invalid_token`.
 * - PagerDuty Events API v2 (developer.pagerduty.com/docs/events-api-v2/overview):
 *   `POST /v2/enqueue`, JSON with `routing_key` (32 characters), `event_action` (`trigger`,
 *   `acknowledge`, `resolve`), `dedup_key` (≤ 255, required to acknowledge or resolve) and, to
 *   trigger, `payload.summary` (≤ 1024), `payload.source`, `payload.severity` (`critical`,
 *   `error`, `warning`, `info`); `202 {status: "success", message: "Event processed",
 *   dedup_key}`, `400 {status: "invalid event", message: "Event object is invalid", errors}`,
 *   `429` when rate limited. A trigger with the dedup_key of an open incident adds to it.
 * - GitHub REST API, issues (docs.github.com/rest/issues/issues): `POST
 *   /repos/{owner}/{repo}/issues` (`title` required; `body`, `labels`) → `201` with the issue
 *   (`number`, `html_url`, …) and `Location`; `GET /repos/{owner}/{repo}/issues` (`state`
 *   open|closed|all, default open; `since` ISO 8601 on `updated_at`; `per_page` ≤ 100, `page`);
 *   `Authorization: Bearer <token>` (or `token <token>`), else `401 Requires authentication` /
 *   `401 Bad credentials`; a request without `User-Agent` is `403`; an unknown repository
 *   `404 Not Found`; a missing title `422 Validation Failed` with `errors`.
 * - The generic webhook is our own protocol (the alert as JSON, any 2xx): a plain receiver.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface StandIn {
  url: string;
  requests: RecordedRequest[];
  /** Answer the next `count` requests with `status`. */
  failNext(count: number, status: number): void;
  /** Answer every request with `status` until `up()`. */
  down(status: number): void;
  up(): void;
  close(): Promise<void>;
}

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;
type Handler = (request: RecordedRequest, url: URL, reply: Reply) => void;

async function serve(handler: Handler): Promise<StandIn> {
  const requests: RecordedRequest[] = [];
  const failures: number[] = [];
  let downStatus: number | null = null;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      const reply: Reply = (status, body, headers = {}) => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        res.writeHead(status, {
          'content-type': typeof body === 'string' ? 'text/plain' : 'application/json',
          ...headers,
        });
        res.end(text);
      };
      const failure = failures.shift() ?? downStatus;
      if (failure !== null && failure !== undefined)
        return reply(failure, { message: 'Service Unavailable (stand-in is down)' });
      handler(recorded, new URL(recorded.path, 'http://stand-in'), reply);
    });
  });
  const url = await listenOnLoopback(server);
  return {
    url,
    requests,
    failNext(count, status) {
      for (let i = 0; i < count; i++) failures.push(status);
    },
    down(status) {
      downStatus = status;
    },
    up() {
      downStatus = null;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

const parseJson = (body: string): unknown => {
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
};

export interface SlackStandIn extends StandIn {
  /** The incoming-webhook URL to configure (ALERT_SLACK_WEBHOOK_URL). */
  webhookUrl: string;
  /** Every message posted to the channel. */
  messages: { text: string }[];
}

export async function startSlackStandIn(): Promise<SlackStandIn> {
  const hookPath = '/services/T0STANDIN/B0STANDIN/standInSecretToken0001';
  const messages: { text: string }[] = [];
  const standIn = await serve((request, url, reply) => {
    if (request.method !== 'POST' || url.pathname !== hookPath) return reply(404, 'no_service');
    const body = parseJson(request.body) as { text?: unknown; blocks?: unknown } | undefined;
    if (!body || typeof body !== 'object') return reply(400, 'invalid_payload');
    if (typeof body.text !== 'string' || body.text.length === 0) return reply(400, 'no_text');
    messages.push({ text: body.text });
    return reply(200, 'ok');
  });
  return { ...standIn, webhookUrl: `${standIn.url}${hookPath}`, messages };
}

export interface PagerDutyEventRecord {
  routing_key: string;
  event_action: 'trigger' | 'acknowledge' | 'resolve';
  dedup_key: string;
  payload?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface PagerDutyStandIn extends StandIn {
  /** The enqueue URL to configure (ALERT_PAGERDUTY_URL). */
  enqueueUrl: string;
  routingKey: string;
  /** Every event accepted, in order. */
  events: PagerDutyEventRecord[];
  /** Incident state by dedup_key, as the events left it. */
  incidents: Map<string, 'triggered' | 'acknowledged' | 'resolved'>;
}

const PD_SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const PD_ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);

export async function startPagerDutyStandIn({
  routingKey = 'R0STANDINROUTINGKEY0000000000001',
}: { routingKey?: string } = {}): Promise<PagerDutyStandIn> {
  const events: PagerDutyEventRecord[] = [];
  const incidents = new Map<string, 'triggered' | 'acknowledged' | 'resolved'>();
  let generated = 0;
  const standIn = await serve((request, url, reply) => {
    if (url.pathname !== '/v2/enqueue') return reply(404, { status: 'not found' });
    if (request.method !== 'POST') return reply(405, { status: 'method not allowed' });
    const invalid = (errors: string[]) =>
      reply(400, { status: 'invalid event', message: 'Event object is invalid', errors });
    const event = parseJson(request.body) as Partial<PagerDutyEventRecord> | undefined;
    if (!event || typeof event !== 'object') return invalid(['Malformed JSON']);
    const errors: string[] = [];
    if (typeof event.routing_key !== 'string' || event.routing_key.length !== 32)
      errors.push("'routing_key' must be 32 characters");
    if (typeof event.event_action !== 'string' || !PD_ACTIONS.has(event.event_action))
      errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");
    if (
      event.dedup_key !== undefined &&
      (typeof event.dedup_key !== 'string' || event.dedup_key.length > 255)
    )
      errors.push("'dedup_key' must be a string of at most 255 characters");
    if (event.event_action !== 'trigger' && !event.dedup_key)
      errors.push("'dedup_key' is required to acknowledge or resolve");
    if (event.event_action === 'trigger') {
      const payload = event.payload;
      if (!payload || typeof payload !== 'object') errors.push("'payload' is missing");
      else {
        if (typeof payload['summary'] !== 'string' || payload['summary'].length === 0)
          errors.push("'payload.summary' is missing or blank");
        else if (payload['summary'].length > 1024)
          errors.push("'payload.summary' must be at most 1024 characters");
        if (typeof payload['source'] !== 'string' || payload['source'].length === 0)
          errors.push("'payload.source' is missing or blank");
        if (typeof payload['severity'] !== 'string' || !PD_SEVERITIES.has(payload['severity']))
          errors.push("'payload.severity' is invalid (critical, error, warning or info)");
        if (
          payload['timestamp'] !== undefined &&
          (typeof payload['timestamp'] !== 'string' ||
            Number.isNaN(Date.parse(payload['timestamp'])))
        )
          errors.push("'payload.timestamp' is not ISO 8601");
      }
    }
    if (errors.length > 0) return invalid(errors);
    if (event.routing_key !== routingKey)
      // PagerDuty accepts the event and drops it when the key matches no integration.
      return reply(202, {
        status: 'success',
        message: 'Event processed',
        dedup_key: event.dedup_key ?? '',
      });
    const dedupKey = event.dedup_key ?? `standin-${++generated}`;
    const record = { ...event, dedup_key: dedupKey } as PagerDutyEventRecord;
    events.push(record);
    const state = incidents.get(dedupKey);
    if (record.event_action === 'trigger' && (state === undefined || state === 'resolved'))
      incidents.set(dedupKey, 'triggered');
    else if (record.event_action === 'acknowledge' && state === 'triggered')
      incidents.set(dedupKey, 'acknowledged');
    else if (record.event_action === 'resolve' && state !== undefined)
      incidents.set(dedupKey, 'resolved');
    return reply(202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  });
  return {
    ...standIn,
    enqueueUrl: `${standIn.url}/v2/enqueue`,
    routingKey,
    events,
    incidents,
  };
}

export interface GithubIssueRecord {
  id: number;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  labels: { name: string }[];
  html_url: string;
  url: string;
  created_at: string;
  updated_at: string;
}

export interface GithubStandIn extends StandIn {
  /** The REST API base URL to configure (ALERT_GITHUB_API_URL). */
  apiUrl: string;
  repository: string;
  token: string;
  issues: GithubIssueRecord[];
}

const GITHUB_DOCS = 'https://docs.github.com/rest';

export async function startGithubStandIn({
  repository = 'acme/fulfillment-ops',
  token = 'github_pat_standin_0000000000000000',
}: { repository?: string; token?: string } = {}): Promise<GithubStandIn> {
  const issues: GithubIssueRecord[] = [];
  const standIn = await serve((request, url, reply) => {
    if (!request.headers['user-agent'])
      return reply(403, {
        message:
          'Request forbidden by administrative rules. Please make sure your request has a User-Agent header',
      });
    const auth = /^(?:Bearer|token) (.+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!auth)
      return reply(401, {
        message: 'Requires authentication',
        documentation_url: GITHUB_DOCS,
        status: '401',
      });
    if (auth !== token)
      return reply(401, {
        message: 'Bad credentials',
        documentation_url: GITHUB_DOCS,
        status: '401',
      });
    const notFound = () =>
      reply(404, { message: 'Not Found', documentation_url: GITHUB_DOCS, status: '404' });
    if (url.pathname !== `/repos/${repository}/issues`) return notFound();
    if (request.method === 'GET') {
      const state = url.searchParams.get('state') ?? 'open';
      const since = url.searchParams.get('since');
      const perPage = Math.min(100, Number(url.searchParams.get('per_page') ?? 30));
      const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
      const selected = issues
        .filter((issue) => state === 'all' || issue.state === state)
        .filter((issue) => !since || Date.parse(issue.updated_at) >= Date.parse(since))
        .sort((a, b) => b.number - a.number);
      return reply(200, selected.slice((page - 1) * perPage, page * perPage));
    }
    if (request.method !== 'POST') return notFound();
    const body = parseJson(request.body) as
      { title?: unknown; body?: unknown; labels?: unknown } | undefined;
    if (!body || typeof body !== 'object')
      return reply(400, {
        message: 'Problems parsing JSON',
        documentation_url: GITHUB_DOCS,
        status: '400',
      });
    if (typeof body.title !== 'string' || body.title.length === 0)
      return reply(422, {
        message: 'Validation Failed',
        errors: [{ resource: 'Issue', code: 'missing_field', field: 'title' }],
        documentation_url: GITHUB_DOCS,
        status: '422',
      });
    const number = issues.length + 1;
    const now = new Date().toISOString();
    const issue: GithubIssueRecord = {
      id: 1_000_000 + number,
      number,
      title: body.title,
      body: typeof body.body === 'string' ? body.body : null,
      state: 'open',
      labels: Array.isArray(body.labels) ? body.labels.map((name) => ({ name: String(name) })) : [],
      html_url: `https://github.com/${repository}/issues/${number}`,
      url: `${standInUrl}/repos/${repository}/issues/${number}`,
      created_at: now,
      updated_at: now,
    };
    issues.push(issue);
    return reply(201, issue, { location: issue.url });
  });
  const standInUrl = standIn.url;
  return { ...standIn, apiUrl: standIn.url, repository, token, issues };
}

export interface WebhookReceiver extends StandIn {
  /** Every JSON body received with a 2xx answer. */
  received: Record<string, unknown>[];
}

/** Our generic alert webhook (the alert as JSON), received by a real HTTP server. */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  const received: Record<string, unknown>[] = [];
  const standIn = await serve((request, _url, reply) => {
    const body = parseJson(request.body);
    if (request.method !== 'POST' || !body || typeof body !== 'object')
      return reply(400, 'bad request');
    received.push(body as Record<string, unknown>);
    return reply(200, 'ok');
  });
  return { ...standIn, received };
}
