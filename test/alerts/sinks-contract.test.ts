// Slack, PagerDuty and GitHub cannot run here: stack/alert-sink-stand-ins.ts stands in for them.
// These tests pin each stand-in to what its provider documents, and our alert sinks
// (drivers/alert-sinks.ts) to the requests the provider accepts:
// - Slack incoming webhooks: api.slack.com/messaging/webhooks (errors: "Handling errors").
// - PagerDuty Events API v2: developer.pagerduty.com/docs/events-api-v2/trigger-events,
//   …/acknowledge-events, …/resolve-events; POST https://events.pagerduty.com/v2/enqueue.
// - GitHub REST API: docs.github.com/rest/issues/issues ("Create an issue", "List repository
//   issues"), headers per docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectDatabase } from '../../db/connect.ts';
import type { Db } from '../../db/database.ts';
import { insertAlertWithDeliveries, type AlertDeliveryPayload } from '../../db/queries/alerts.ts';
import {
  ALERT_TOPICS,
  alertOutboxSinks,
  pagerDutyEvent,
  trackerMarker,
} from '../../drivers/alert-sinks.ts';
import {
  startGithubStandIn,
  startPagerDutyStandIn,
  startSlackStandIn,
  type GithubStandIn,
  type PagerDutyStandIn,
  type SlackStandIn,
} from '../../stack/alert-sink-stand-ins.ts';
import { fileDatabaseUrl } from '../helpers/file-resources.ts';

let slack: SlackStandIn;
let pagerDuty: PagerDutyStandIn;
let github: GithubStandIn;
let db: Db;
beforeAll(async () => {
  [slack, pagerDuty, github] = await Promise.all([
    startSlackStandIn(),
    startPagerDutyStandIn(),
    startGithubStandIn(),
  ]);
  db = await connectDatabase({ kind: 'postgres', url: fileDatabaseUrl() });
});
afterAll(async () => {
  await Promise.all([slack?.close(), pagerDuty?.close(), github?.close()]);
  await db?.destroy();
});

let serial = 0;
/** A stored alert (no deliveries queued: these tests call the sinks directly). */
async function storedAlert(
  overrides: Partial<AlertDeliveryPayload['alert']> = {},
): Promise<AlertDeliveryPayload> {
  const key = `contract:${Date.now()}:${++serial}`;
  const row = await insertAlertWithDeliveries(
    db,
    {
      alert_key: key,
      kind: overrides.kind ?? 'reconciliation.run',
      severity: overrides.severity ?? 'critical',
      summary: overrides.summary ?? 'reconciliation 2026-11-30: 2 paid-not-entitled',
      detail: JSON.stringify(
        overrides.detail ?? { runId: 'r-1', counts: { 'paid-not-entitled': 2 } },
      ),
      job_id: null,
    },
    { topics: [], ticket: true },
  );
  return {
    alertId: row!.id,
    event: 'trigger',
    ticket: true,
    alert: {
      key,
      kind: row!.kind,
      severity: row!.severity,
      summary: row!.summary,
      detail: row!.detail,
      jobId: null,
      createdAt: row!.created_at.toISOString(),
    },
  };
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

describe('the Slack stand-in, as Slack documents incoming webhooks', () => {
  it('takes { text } with 200 "ok" and answers the documented errors', async () => {
    const ok = await postJson(slack.webhookUrl, { text: 'Hello, world.' });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('ok');
    const notJson = await postJson(slack.webhookUrl, '{"text":');
    expect([notJson.status, await notJson.text()]).toEqual([400, 'invalid_payload']);
    const noText = await postJson(slack.webhookUrl, { username: 'x' });
    expect([noText.status, await noText.text()]).toEqual([400, 'no_text']);
    const unknown = await postJson(`${slack.url}/services/T1/B1/wrong`, { text: 'x' });
    expect([unknown.status, await unknown.text()]).toEqual([404, 'no_service']);
    expect(slack.messages.at(-1)).toEqual({ text: 'Hello, world.' });
  });
});

describe('the PagerDuty stand-in, as PagerDuty documents Events API v2', () => {
  const trigger = {
    routing_key: 'R0STANDINROUTINGKEY0000000000001',
    event_action: 'trigger',
    dedup_key: 'contract-doc-1',
    payload: {
      summary: 'Example alert on host1.example.com',
      source:
        'monitoringtool:cloudvendor:central-region-dc-01:852559987:cluster/api-stats-prod-003',
      severity: 'info',
      timestamp: '2015-07-17T08:42:58.315+0000',
      component: 'postgres',
      group: 'prod-datapipe',
      class: 'deploy',
      custom_details: { 'ping time': '1500ms', 'load avg': 0.75 },
    },
  };

  it('accepts the documented trigger, acknowledge and resolve with 202 and the dedup_key', async () => {
    const triggered = await postJson(`${pagerDuty.url}/v2/enqueue`, trigger);
    expect(triggered.status).toBe(202);
    expect(await triggered.json()).toEqual({
      status: 'success',
      message: 'Event processed',
      dedup_key: 'contract-doc-1',
    });
    expect(pagerDuty.incidents.get('contract-doc-1')).toBe('triggered');
    for (const [action, state] of [
      ['acknowledge', 'acknowledged'],
      ['resolve', 'resolved'],
    ] as const) {
      const response = await postJson(`${pagerDuty.url}/v2/enqueue`, {
        routing_key: trigger.routing_key,
        event_action: action,
        dedup_key: 'contract-doc-1',
      });
      expect(response.status).toBe(202);
      expect(pagerDuty.incidents.get('contract-doc-1')).toBe(state);
    }
  });

  it('answers 400 "invalid event" naming what is wrong', async () => {
    const bad = await postJson(`${pagerDuty.url}/v2/enqueue`, {
      ...trigger,
      payload: { ...trigger.payload, severity: 'fatal', summary: '' },
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { status: string; message: string; errors: string[] };
    expect(body).toMatchObject({ status: 'invalid event', message: 'Event object is invalid' });
    expect(body.errors.join(' ')).toMatch(/payload\.summary/);
    expect(body.errors.join(' ')).toMatch(/payload\.severity/);
    const noKey = await postJson(`${pagerDuty.url}/v2/enqueue`, {
      routing_key: trigger.routing_key,
      event_action: 'resolve',
    });
    expect(noKey.status).toBe(400);
    const shortKey = await postJson(`${pagerDuty.url}/v2/enqueue`, {
      ...trigger,
      routing_key: 'x',
    });
    expect(shortKey.status).toBe(400);
  });
});

describe('the GitHub stand-in, as GitHub documents the issues API', () => {
  const headers = {
    accept: 'application/vnd.github+json',
    'x-github-api-version': '2022-11-28',
    'user-agent': 'contract-test',
  };
  const issuesUrl = () => `${github.url}/repos/${github.repository}/issues`;

  it('creates an issue: 201, the issue with number and html_url, and Location', async () => {
    const response = await postJson(
      issuesUrl(),
      { title: 'Found a bug', body: "I'm having a problem with this.", labels: ['bug'] },
      { ...headers, authorization: `Bearer ${github.token}` },
    );
    expect(response.status).toBe(201);
    const issue = (await response.json()) as Record<string, unknown>;
    expect(issue).toMatchObject({
      title: 'Found a bug',
      body: "I'm having a problem with this.",
      state: 'open',
      labels: [{ name: 'bug' }],
    });
    expect(issue['number']).toEqual(expect.any(Number));
    expect(issue['html_url']).toBe(
      `https://github.com/${github.repository}/issues/${String(issue['number'])}`,
    );
    expect(response.headers.get('location')).toBe(issue['url']);
    const listed = await fetch(`${issuesUrl()}?state=all&per_page=100`, {
      headers: { ...headers, authorization: `token ${github.token}` },
    });
    expect(listed.status).toBe(200);
    expect(((await listed.json()) as { number: number }[]).map((i) => i.number)).toContain(
      issue['number'],
    );
  });

  it('answers 401, 403 without User-Agent, 404 for another repository and 422 without a title', async () => {
    const anonymous = await postJson(issuesUrl(), { title: 'x' }, headers);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ message: 'Requires authentication' });
    const wrong = await postJson(
      issuesUrl(),
      { title: 'x' },
      { ...headers, authorization: 'Bearer nope' },
    );
    expect(await wrong.json()).toMatchObject({ message: 'Bad credentials' });
    const noAgent = await fetch(issuesUrl(), {
      method: 'POST',
      headers: { authorization: `Bearer ${github.token}`, 'user-agent': '' },
      body: '{"title":"x"}',
    });
    expect(noAgent.status).toBe(403);
    const other = await postJson(
      `${github.url}/repos/acme/other/issues`,
      { title: 'x' },
      { ...headers, authorization: `Bearer ${github.token}` },
    );
    expect(other.status).toBe(404);
    const untitled = await postJson(
      issuesUrl(),
      { body: 'x' },
      { ...headers, authorization: `Bearer ${github.token}` },
    );
    expect(untitled.status).toBe(422);
    expect(await untitled.json()).toMatchObject({
      message: 'Validation Failed',
      errors: [{ resource: 'Issue', code: 'missing_field', field: 'title' }],
    });
  });
});

describe('our alert sinks against the documented APIs', () => {
  const sinks = () =>
    alertOutboxSinks(db, {
      slackWebhookUrl: slack.webhookUrl,
      pagerDuty: { routingKey: pagerDuty.routingKey, url: pagerDuty.enqueueUrl },
      tracker: { repository: github.repository, token: github.token, apiUrl: github.apiUrl },
    });

  it('posts Slack { text } with the severity, and no buyer address', async () => {
    const alert = await storedAlert({
      summary: 'receipt to ada@example.com failed',
      severity: 'warning',
    });
    await sinks()[ALERT_TOPICS.slack]!(alert);
    expect(slack.messages.at(-1)).toEqual({ text: '[warning] receipt to [email] failed' });
  });

  it('sends PagerDuty a valid trigger, then acknowledge and resolve for the same dedup_key', async () => {
    const alert = await storedAlert();
    const send = sinks()[ALERT_TOPICS.pagerduty]!;
    await send(alert);
    const request = pagerDuty.requests.at(-1)!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v2/enqueue');
    expect(request.headers['content-type']).toBe('application/json');
    const event = JSON.parse(request.body) as Record<string, unknown>;
    expect(event).toEqual(pagerDutyEvent(pagerDuty.routingKey, alert));
    expect(event).toMatchObject({
      routing_key: pagerDuty.routingKey,
      event_action: 'trigger',
      dedup_key: `fulfillment:${alert.alert.key}`,
      payload: {
        summary: alert.alert.summary,
        source: 'fulfillment-orchestrator',
        severity: 'critical',
        timestamp: alert.alert.createdAt,
        class: 'reconciliation.run',
      },
    });
    const dedupKey = `fulfillment:${alert.alert.key}`;
    expect(pagerDuty.incidents.get(dedupKey)).toBe('triggered');
    await send({ ...alert, event: 'acknowledge' });
    expect(pagerDuty.incidents.get(dedupKey)).toBe('acknowledged');
    await send({ ...alert, event: 'resolve' });
    expect(pagerDuty.incidents.get(dedupKey)).toBe('resolved');
    expect(JSON.parse(pagerDuty.requests.at(-1)!.body)).toEqual({
      routing_key: pagerDuty.routingKey,
      event_action: 'resolve',
      dedup_key: dedupKey,
    });
  });

  it('fails on PagerDuty 429 and 5xx, so the outbox retries', async () => {
    const alert = await storedAlert();
    pagerDuty.failNext(1, 429);
    await expect(sinks()[ALERT_TOPICS.pagerduty]!(alert)).rejects.toThrow(/pagerduty answered 429/);
    pagerDuty.failNext(1, 503);
    await expect(sinks()[ALERT_TOPICS.pagerduty]!(alert)).rejects.toThrow(/pagerduty answered 503/);
  });

  it('opens one GitHub issue per alert with the documented headers, and a retry opens none', async () => {
    const alert = await storedAlert({
      summary: 'reconciliation 2026-11-30: 1 paid-not-entitled (ada@example.com)',
    });
    const before = github.issues.length;
    const send = sinks()[ALERT_TOPICS.tracker]!;
    await send(alert);
    const post = github.requests.filter((r) => r.method === 'POST').at(-1)!;
    expect(post.path).toBe(`/repos/${github.repository}/issues`);
    expect(post.headers).toMatchObject({
      accept: 'application/vnd.github+json',
      authorization: `Bearer ${github.token}`,
      'x-github-api-version': '2022-11-28',
      'content-type': 'application/json',
    });
    expect(post.headers['user-agent']).toBeTruthy();
    const body = JSON.parse(post.body) as { title: string; body: string; labels: string[] };
    expect(body.title).toBe('reconciliation 2026-11-30: 1 paid-not-entitled ([email])');
    expect(body.body).toContain(trackerMarker(alert.alert.key));
    expect(body.body).not.toContain('ada@example.com');
    expect(github.issues.length).toBe(before + 1);
    const row = await db
      .selectFrom('alerts')
      .select('tracker_issue_url')
      .where('alert_key', '=', alert.alert.key)
      .executeTakeFirstOrThrow();
    expect(row.tracker_issue_url).toBe(github.issues.at(-1)!.html_url);

    // The relay redelivers (it died before marking the message delivered): no second issue.
    await send(alert);
    expect(github.issues.length).toBe(before + 1);
  });

  it('finds the issue it opened by its marker when the alert row did not record it', async () => {
    const alert = await storedAlert();
    const send = sinks()[ALERT_TOPICS.tracker]!;
    // GitHub took the issue, then the answer was lost (a 502 after the fact).
    await send(alert);
    await db
      .updateTable('alerts')
      .set({ tracker_issue_url: null })
      .where('alert_key', '=', alert.alert.key)
      .execute();
    const count = github.issues.length;
    await send(alert);
    expect(github.issues.length).toBe(count);
    const lists = github.requests.filter((r) => r.method === 'GET');
    expect(new URL(lists.at(-1)!.path, 'http://x').searchParams.get('state')).toBe('all');
  });

  it('never puts the GitHub token in an error', async () => {
    const alert = await storedAlert();
    github.failNext(1, 503);
    const error = await sinks()[ALERT_TOPICS.tracker]!(alert).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/github answered 503/);
    expect((error as Error).message).not.toContain(github.token);
  });
});
