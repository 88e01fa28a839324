import type { Config } from '../config/env.ts';
import type { Db } from '../db/database.ts';
import {
  alertEventDelivery,
  findAlertTrackerIssue,
  recordAlertTrackerIssue,
  type AlertDeliveryPayload,
} from '../db/queries/alerts.ts';
import { redactEmails } from '../security/redaction.ts';

/**
 * Where alerts go: a Slack incoming webhook (`{ text }`), a generic JSON webhook, PagerDuty
 * (Events API v2) and an issue tracker (GitHub Issues, one issue per alert that asks for a
 * ticket: a reconciliation run with discrepancies). Each configured sink gets one outbox
 * message per alert event (topic `alert.<sink>`); the worker's outbox relay delivers them with
 * retries and backoff, so a sink that is down loses nothing.
 */
export interface AlertSinks {
  /** A Slack incoming-webhook URL (or anything that accepts `{ text }`). */
  slackWebhookUrl?: string | undefined;
  /** A generic webhook that receives the alert as JSON. */
  webhookUrl?: string | undefined;
  /** PagerDuty Events API v2: the integration's routing key and the enqueue URL. */
  pagerDuty?: { routingKey: string; url: string } | undefined;
  /** GitHub Issues: `owner/name`, a token that may open issues, the REST API base URL. */
  tracker?: { repository: string; token: string; apiUrl: string } | undefined;
}

export const ALERT_TOPICS = {
  slack: 'alert.slack',
  webhook: 'alert.webhook',
  pagerduty: 'alert.pagerduty',
  tracker: 'alert.github',
} as const;

type AlertConfig = Pick<
  Config,
  | 'ALERT_SLACK_WEBHOOK_URL'
  | 'ALERT_WEBHOOK_URL'
  | 'ALERT_PAGERDUTY_ROUTING_KEY'
  | 'ALERT_PAGERDUTY_URL'
  | 'ALERT_GITHUB_REPOSITORY'
  | 'ALERT_GITHUB_TOKEN'
  | 'ALERT_GITHUB_API_URL'
>;

/** The sinks the environment configures. */
export function alertSinksFromConfig(config: AlertConfig): AlertSinks {
  return {
    slackWebhookUrl: config.ALERT_SLACK_WEBHOOK_URL,
    webhookUrl: config.ALERT_WEBHOOK_URL,
    pagerDuty: config.ALERT_PAGERDUTY_ROUTING_KEY
      ? { routingKey: config.ALERT_PAGERDUTY_ROUTING_KEY, url: config.ALERT_PAGERDUTY_URL }
      : undefined,
    tracker:
      config.ALERT_GITHUB_REPOSITORY && config.ALERT_GITHUB_TOKEN
        ? {
            repository: config.ALERT_GITHUB_REPOSITORY,
            token: config.ALERT_GITHUB_TOKEN,
            apiUrl: config.ALERT_GITHUB_API_URL,
          }
        : undefined,
  };
}

/**
 * The topics one alert event is queued on: a trigger goes to every configured sink (the
 * tracker only when the alert asks for a ticket); acknowledge and resolve go to PagerDuty,
 * the one sink with an incident to update.
 */
export function alertTopicsFor(
  sinks: AlertSinks,
  event: AlertDeliveryPayload['event'],
  { ticket = false }: { ticket?: boolean } = {},
): string[] {
  if (event !== 'trigger') return sinks.pagerDuty ? [ALERT_TOPICS.pagerduty] : [];
  return [
    ...(sinks.slackWebhookUrl ? [ALERT_TOPICS.slack] : []),
    ...(sinks.webhookUrl ? [ALERT_TOPICS.webhook] : []),
    ...(sinks.pagerDuty ? [ALERT_TOPICS.pagerduty] : []),
    ...(sinks.tracker && ticket ? [ALERT_TOPICS.tracker] : []),
  ];
}

/** A sink's refusal, with its status and at most 200 characters of its answer (never our headers). */
async function failure(sink: string, response: Response): Promise<Error> {
  const body = redactEmails((await response.text().catch(() => '')).slice(0, 200));
  const retryAfter = response.headers.get('retry-after');
  return new Error(
    `${sink} answered ${response.status}${retryAfter ? ` (retry after ${retryAfter} s)` : ''}: ${body}`,
  );
}

async function send(
  sink: string,
  url: string | URL,
  init: RequestInit,
  timeoutMs: number,
): Promise<Response> {
  let response: Response;
  try {
    response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    // The message names the sink, never the URL (a Slack webhook URL is a credential).
    throw new Error(`${sink} did not answer: ${error instanceof Error ? error.name : 'error'}`, {
      cause: error,
    });
  }
  if (!response.ok) throw await failure(sink, response);
  return response;
}

const json = { 'content-type': 'application/json' };

/** PagerDuty's event for one alert event (Events API v2, developer.pagerduty.com). */
export function pagerDutyEvent(routingKey: string, payload: AlertDeliveryPayload) {
  const { alert } = payload;
  // dedup_key: at most 255 characters; the alert key is stable and readable.
  const dedupKey = `fulfillment:${alert.key}`.slice(0, 255);
  if (payload.event !== 'trigger')
    return { routing_key: routingKey, event_action: payload.event, dedup_key: dedupKey };
  return {
    routing_key: routingKey,
    event_action: 'trigger' as const,
    dedup_key: dedupKey,
    client: 'Fulfillment Orchestrator',
    payload: {
      summary: redactEmails(alert.summary).slice(0, 1024),
      source: 'fulfillment-orchestrator',
      severity: alert.severity,
      timestamp: alert.createdAt,
      component: 'fulfillment',
      class: alert.kind,
      custom_details: {
        alert_id: payload.alertId,
        alert_key: alert.key,
        job_id: alert.jobId,
        detail: JSON.parse(redactEmails(JSON.stringify(alert.detail ?? null))) as unknown,
      },
    },
  };
}

/** The marker an opened issue's body carries, so a retried delivery finds it. */
export const trackerMarker = (alertKey: string): string =>
  `<!-- fulfillment-orchestrator-alert: ${alertKey} -->`;

interface GithubIssue {
  number: number;
  html_url: string;
  body?: string | null;
}

/**
 * Delivers one outbox message per alert topic; each throws when its service did not take the
 * message, so the relay retries it. A repeat is harmless: Slack and the webhook may see an alert
 * twice only if a relay dies between the post and marking it delivered; PagerDuty folds a
 * repeat into the incident by `dedup_key`; the tracker looks for the issue it opened (the
 * alert row, then the marker in recent issues) before opening one.
 */
export function alertOutboxSinks(
  db: Db,
  sinks: AlertSinks,
  { timeoutMs = 10_000 }: { timeoutMs?: number } = {},
): Record<string, (payload: unknown) => Promise<void>> {
  const result: Record<string, (payload: unknown) => Promise<void>> = {};
  if (sinks.slackWebhookUrl) {
    const url = sinks.slackWebhookUrl;
    result[ALERT_TOPICS.slack] = async (raw) => {
      const { alert } = raw as AlertDeliveryPayload;
      const response = await send(
        'slack',
        url,
        {
          method: 'POST',
          headers: json,
          body: JSON.stringify({ text: redactEmails(`[${alert.severity}] ${alert.summary}`) }),
        },
        timeoutMs,
      );
      await response.body?.cancel();
    };
  }
  if (sinks.webhookUrl) {
    const url = sinks.webhookUrl;
    result[ALERT_TOPICS.webhook] = async (raw) => {
      const payload = raw as AlertDeliveryPayload;
      const { alert } = payload;
      const response = await send(
        'webhook',
        url,
        {
          method: 'POST',
          headers: json,
          body: JSON.stringify({
            id: payload.alertId,
            event: payload.event,
            key: alert.key,
            kind: alert.kind,
            severity: alert.severity,
            summary: alert.summary,
            jobId: alert.jobId,
            detail: alert.detail,
            createdAt: alert.createdAt,
          }),
        },
        timeoutMs,
      );
      await response.body?.cancel();
    };
  }
  if (sinks.pagerDuty) {
    const { routingKey, url } = sinks.pagerDuty;
    result[ALERT_TOPICS.pagerduty] = async (raw) => {
      const payload = raw as AlertDeliveryPayload;
      // PagerDuty drops an acknowledge or resolve for an incident it does not know yet: wait
      // (the relay retries) until the trigger went out, when one was queued.
      if (
        payload.event !== 'trigger' &&
        (await alertEventDelivery(db, ALERT_TOPICS.pagerduty, payload.alertId, 'trigger')) ===
          'pending'
      )
        throw new Error('pagerduty: the trigger of this alert is not delivered yet');
      const response = await send(
        'pagerduty',
        url,
        {
          method: 'POST',
          headers: json,
          body: JSON.stringify(pagerDutyEvent(routingKey, payload)),
        },
        timeoutMs,
      );
      await response.body?.cancel();
    };
  }
  if (sinks.tracker) {
    const { repository, token, apiUrl } = sinks.tracker;
    const base = `${apiUrl.replace(/\/$/, '')}/repos/${repository}/issues`;
    const headers = {
      accept: 'application/vnd.github+json',
      authorization: `Bearer ${token}`,
      'x-github-api-version': '2022-11-28',
      'user-agent': 'fulfillment-orchestrator',
    };
    /** The issue a previous delivery opened: listed since shortly before the alert. */
    const findOpened = async (payload: AlertDeliveryPayload): Promise<GithubIssue | null> => {
      const marker = trackerMarker(payload.alert.key);
      const since = new Date(Date.parse(payload.alert.createdAt) - 5 * 60_000).toISOString();
      for (let page = 1; page <= 10; page += 1) {
        const url = new URL(base);
        url.search = new URLSearchParams({
          state: 'all',
          since,
          per_page: '100',
          page: String(page),
        }).toString();
        const response = await send('github', url, { method: 'GET', headers }, timeoutMs);
        const issues = (await response.json()) as GithubIssue[];
        const found = issues.find((issue) => issue.body?.includes(marker));
        if (found) return found;
        if (issues.length < 100) return null;
      }
      return null;
    };
    result[ALERT_TOPICS.tracker] = async (raw) => {
      const payload = raw as AlertDeliveryPayload;
      if (payload.event !== 'trigger') return;
      if (await findAlertTrackerIssue(db, payload.alertId)) return;
      const opened = await findOpened(payload);
      if (opened) {
        await recordAlertTrackerIssue(db, payload.alertId, opened.html_url);
        return;
      }
      const { alert } = payload;
      const response = await send(
        'github',
        base,
        {
          method: 'POST',
          headers: { ...headers, ...json },
          body: JSON.stringify({
            title: redactEmails(alert.summary).slice(0, 240),
            body: trackerIssueBody(payload),
            labels: ['fulfillment', alert.kind],
          }),
        },
        timeoutMs,
      );
      const issue = (await response.json()) as GithubIssue;
      await recordAlertTrackerIssue(db, payload.alertId, issue.html_url);
    };
  }
  return result;
}

/** The issue's body: what was found, how to look, and the marker that makes it findable. */
export function trackerIssueBody(payload: AlertDeliveryPayload): string {
  const { alert } = payload;
  const detail = redactEmails(JSON.stringify(alert.detail ?? {}, null, 2));
  return [
    `**${alert.severity}** — ${redactEmails(alert.summary)}`,
    '',
    `Raised ${alert.createdAt} (alert ${payload.alertId}, \`${alert.key}\`).`,
    '',
    '```json',
    detail,
    '```',
    '',
    'Inspect the run: `GET /admin/reconciliation-runs`; when handled: ' +
      `\`npm run ops -- alerts resolve ${payload.alertId} --operator NAME --reason "…"\`.`,
    '',
    trackerMarker(alert.key),
  ].join('\n');
}
