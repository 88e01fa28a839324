// Alerts cannot be lost: each is stored with one outbox message per configured sink, and the
// relay retries each until its sink takes it. Real Postgres (a scratch database: no other test
// file's relay or alerts), the sinks' documented stand-ins (stack/alert-sink-stand-ins.ts), the
// admin API and the CLI as a process.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findAlert } from '../../db/queries/alerts.ts';
import { alertOutboxSinks, alertSinksFromConfig } from '../../drivers/alert-sinks.ts';
import {
  startGithubStandIn,
  startPagerDutyStandIn,
  startSlackStandIn,
  startWebhookReceiver,
  type GithubStandIn,
  type PagerDutyStandIn,
  type SlackStandIn,
  type WebhookReceiver,
} from '../../stack/alert-sink-stand-ins.ts';
import { waitFor } from '../../stack/processes.ts';
import { acknowledgeAlert, raiseAlert, resolveAlert } from '../../support/alerts.ts';
import { startAnalyticsExport } from '../../worker/operations.ts';
import {
  outboxRetryDelaySeconds,
  startOutboxRelay,
  type OutboxRelay,
} from '../../worker/outbox-relay.ts';
import { createScratchDatabase } from '../helpers/database.ts';
import { startTestStack, type TestStack } from '../helpers/stack.ts';
import { jsonOf, OPERATOR_TOKENS, operators, ops } from '../ops/support.ts';

let scratch: Awaited<ReturnType<typeof createScratchDatabase>>;
let stack: TestStack;
let slack: SlackStandIn;
let webhook: WebhookReceiver;
let pagerDuty: PagerDutyStandIn;
let github: GithubStandIn;
let env: Record<string, string>;
const relays: OutboxRelay[] = [];

beforeAll(async () => {
  [slack, webhook, pagerDuty, github, scratch] = await Promise.all([
    startSlackStandIn(),
    startWebhookReceiver(),
    startPagerDutyStandIn(),
    startGithubStandIn(),
    createScratchDatabase(),
  ]);
  env = {
    DATABASE_URL: scratch.url,
    OPERATOR_TOKENS,
    ALERT_SLACK_WEBHOOK_URL: slack.webhookUrl,
    ALERT_WEBHOOK_URL: `${webhook.url}/alerts`,
    ALERT_PAGERDUTY_ROUTING_KEY: pagerDuty.routingKey,
    ALERT_PAGERDUTY_URL: pagerDuty.enqueueUrl,
    ALERT_GITHUB_REPOSITORY: github.repository,
    ALERT_GITHUB_TOKEN: github.token,
    ALERT_GITHUB_API_URL: github.apiUrl,
  };
  stack = await startTestStack({ worker: false, env });
});
afterAll(async () => {
  await Promise.all(relays.map((relay) => relay.stop()));
  await stack?.close();
  await scratch?.drop();
  await Promise.all([slack?.close(), webhook?.close(), pagerDuty?.close(), github?.close()]);
});

/** A relay as the worker runs it, with a backoff of tens of milliseconds instead of seconds. */
function fastRelay(): OutboxRelay {
  const relay = startOutboxRelay(
    stack.db,
    alertOutboxSinks(stack.db, alertSinksFromConfig(stack.config)),
    { pollMs: 20, retryBaseSeconds: 0.02, retryMaxSeconds: 0.1 },
  );
  relays.push(relay);
  return relay;
}

let serial = 0;
const raise = (overrides: { ticket?: boolean; summary?: string } = {}) => {
  const key = `delivery-test:${Date.now()}:${++serial}`;
  return raiseAlert(stack.db, alertSinksFromConfig(stack.config), {
    key,
    kind: 'reconciliation.run',
    severity: 'critical',
    summary: overrides.summary ?? `reconciliation: 1 paid-not-entitled (${key})`,
    detail: { runId: key, counts: { 'paid-not-entitled': 1 } },
    ticket: overrides.ticket ?? true,
  }).then(async (raised) => {
    expect(raised).toBe(true);
    const row = await stack.db
      .selectFrom('alerts')
      .select('id')
      .where('alert_key', '=', key)
      .executeTakeFirstOrThrow();
    return { key, id: row.id };
  });
};

const everySink = () => [slack, webhook, pagerDuty, github];

describe('alert delivery through the outbox', () => {
  it('survives every sink answering 503 for a while: then exactly one delivery per sink', async () => {
    for (const sink of everySink()) sink.down(503);
    const { key, id } = await raise();
    const pending = await findAlert(stack.db, id);
    expect(pending!.deliveries.map((d) => d.sink).sort()).toEqual(
      ['github', 'pagerduty', 'slack', 'webhook'].sort(),
    );
    expect(pending!.deliveredAt).toBeNull();

    const relay = fastRelay();
    // The outage: every sink is tried again and again, and nothing is given up.
    await waitFor(
      'three failed attempts per sink',
      async () => {
        const alert = await findAlert(stack.db, id);
        return alert!.deliveries.every((d) => d.attempts >= 3);
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const failing = await findAlert(stack.db, id);
    expect(failing!.deliveredAt).toBeNull();
    for (const delivery of failing!.deliveries) {
      expect(delivery.deliveredAt).toBeNull();
      expect(delivery.lastError).toMatch(/answered 503/);
      expect(delivery.lastError).not.toContain(github.token);
    }
    // An hour-long outage: the backoff is capped (5 minutes by default), never given up.
    expect(outboxRetryDelaySeconds(50)).toBeLessThanOrEqual(360);

    for (const sink of everySink()) sink.up();
    await waitFor(
      'every sink took the alert',
      async () => (await findAlert(stack.db, id))!.deliveredAt !== null,
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const delivered = await findAlert(stack.db, id);
    expect(delivered!.deliveries.every((d) => d.deliveredAt !== null && d.lastError === null)).toBe(
      true,
    );
    expect(slack.messages.filter((m) => m.text.includes(key))).toHaveLength(1);
    expect(webhook.received.filter((body) => body['key'] === key)).toEqual([
      expect.objectContaining({ id, event: 'trigger', kind: 'reconciliation.run' }),
    ]);
    expect(pagerDuty.events.filter((e) => e.dedup_key === `fulfillment:${key}`)).toHaveLength(1);
    const issues = github.issues.filter((issue) => issue.body?.includes(key));
    expect(issues).toHaveLength(1);
    expect(delivered!.tracker_issue_url).toBe(issues[0]!.html_url);
    await relay.stop();
  });

  it('opens an issue only for an alert that asks for one (a run with discrepancies)', async () => {
    const { key, id } = await raise({ ticket: false });
    const alert = await findAlert(stack.db, id);
    expect(alert!.deliveries.map((d) => d.sink).sort()).toEqual(['pagerduty', 'slack', 'webhook']);
    // The worker's relay (worker/operations.ts) delivers alert topics next to analytics.
    const relay = startAnalyticsExport(stack.config, stack.db);
    relays.push(relay);
    await relay.deliverDue();
    await relay.stop();
    expect(github.issues.some((issue) => issue.body?.includes(key))).toBe(false);
    expect((await findAlert(stack.db, id))!.deliveredAt).not.toBeNull();
  });

  it('raises once per key: a second raise queues nothing', async () => {
    const { key } = await raise();
    const again = await raiseAlert(stack.db, alertSinksFromConfig(stack.config), {
      key,
      kind: 'reconciliation.run',
      severity: 'critical',
      summary: 'again',
    });
    expect(again).toBe(false);
    const messages = await stack.db
      .selectFrom('outbox_messages')
      .select(['topic', 'payload'])
      .where('dedupe_key', 'like', `alert:%:trigger`)
      .execute();
    expect(
      messages.filter((m) => (m.payload as { alert: { key: string } }).alert.key === key),
    ).toHaveLength(4);
  });

  it('acknowledge and resolve are audited and update the PagerDuty incident through the outbox', async () => {
    const { key, id } = await raise({ ticket: false });
    const sinks = alertSinksFromConfig(stack.config);
    const as = { operator: { name: 'dana', role: 'support' }, reason: 'looking into it' };
    const acked = await acknowledgeAlert(stack.db, sinks, id, as);
    expect(acked).toMatchObject({
      changed: true,
      alert: { status: 'acknowledged', acknowledged_by: 'dana' },
    });
    expect((await acknowledgeAlert(stack.db, sinks, id, as)).changed).toBe(false);
    // The trigger and the acknowledge are both queued: the acknowledge waits for the trigger
    // (PagerDuty drops an acknowledge for an incident it does not know).
    const relay = fastRelay();
    await relay.deliverDue();
    await waitFor(
      'acknowledged in PagerDuty',
      async () => pagerDuty.incidents.get(`fulfillment:${key}`) === 'acknowledged',
    );
    const resolved = await resolveAlert(stack.db, sinks, id, { ...as, reason: 'fixed the DNS' });
    expect(resolved.alert).toMatchObject({ status: 'resolved', resolved_by: 'dana' });
    await waitFor(
      'resolved in PagerDuty',
      async () => pagerDuty.incidents.get(`fulfillment:${key}`) === 'resolved',
    );
    expect(
      pagerDuty.events
        .filter((e) => e.dedup_key === `fulfillment:${key}`)
        .map((e) => e.event_action),
    ).toEqual(['trigger', 'acknowledge', 'resolve']);
    await relay.stop();
    const audit = await stack.db
      .selectFrom('audit_log')
      .select(['actor', 'action', 'reason'])
      .where('target', '=', `alert:${id}`)
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      { actor: 'dana', action: 'alert.acknowledged', reason: 'looking into it' },
      { actor: 'dana', action: 'alert.resolved', reason: 'fixed the DNS' },
    ]);
    await expect(acknowledgeAlert(stack.db, sinks, id, { ...as, reason: 'x' })).rejects.toThrow(
      /reason/,
    );
  });
});

describe('alerts in the admin API and the CLI', () => {
  const call = (method: 'GET' | 'POST', url: string, payload?: object) =>
    stack.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${operators.support.token}` },
      ...(payload ? { payload } : {}),
    });

  it('lists, acknowledges and resolves through /admin/alerts, audited with the operator', async () => {
    const { id } = await raise({ ticket: false });
    const listed = await call('GET', '/admin/alerts?status=open&limit=500');
    expect(listed.statusCode).toBe(200);
    expect(listed.json<{ items: { id: string }[] }>().items.map((a) => a.id)).toContain(id);
    const bad = await call('GET', '/admin/alerts?status=lost');
    expect(bad.statusCode).toBe(400);
    expect(bad.json<{ error: string }>().error).toContain('status');
    expect((await call('POST', `/admin/alerts/${id}/ack`, {})).statusCode).toBe(400);
    const acked = await call('POST', `/admin/alerts/${id}/ack`, { reason: 'on it' });
    expect(acked.statusCode).toBe(200);
    expect(acked.json()).toMatchObject({
      changed: true,
      alert: { status: 'acknowledged', acknowledged_by: 'bob' },
    });
    const resolved = await call('POST', `/admin/alerts/${id}/resolve`, { reason: 'done' });
    expect(resolved.json()).toMatchObject({ alert: { status: 'resolved', resolved_by: 'bob' } });
    expect(
      (await call('POST', '/admin/alerts/999999999/ack', { reason: 'on it' })).statusCode,
    ).toBe(404);
    const messages = await stack.db
      .selectFrom('outbox_messages')
      .select(['topic', 'dedupe_key'])
      .where('dedupe_key', 'in', [`alert:${id}:acknowledge`, `alert:${id}:resolve`])
      .orderBy('id')
      .execute();
    expect(messages).toEqual([
      { topic: 'alert.pagerduty', dedupe_key: `alert:${id}:acknowledge` },
      { topic: 'alert.pagerduty', dedupe_key: `alert:${id}:resolve` },
    ]);
  });

  it('npm run ops -- alerts list | ack | resolve', async () => {
    const { id } = await raise({ ticket: false });
    const table = await ops(['alerts', 'list', '--status', 'open'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^id\s+created\s+severity\s+status\s+kind\s+summary\s+delivered/);
    expect(table.stdout).toContain('reconciliation.run');
    const refused = await ops(['alerts', 'ack', id], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('needs --operator NAME and --reason TEXT');
    const acked = jsonOf<{ changed: boolean; alert: { status: string } }>(
      await ops(['alerts', 'ack', id, '--operator', 'erin', '--reason', 'paged', '--json'], env),
    );
    expect(acked).toMatchObject({ changed: true, alert: { status: 'acknowledged' } });
    const resolved = jsonOf<{ alert: { status: string; resolved_by: string } }>(
      await ops(
        ['alerts', 'resolve', id, '--operator', 'erin', '--reason', 'fixed', '--json'],
        env,
      ),
    );
    expect(resolved.alert).toMatchObject({ status: 'resolved', resolved_by: 'erin' });
    const page = jsonOf<{ items: { id: string; status: string }[]; next: string | null }>(
      await ops(['alerts', 'list', '--status', 'resolved', '--limit', '1', '--json'], env),
    );
    expect(page.items).toHaveLength(1);
    expect(page.items[0]!.status).toBe('resolved');
    const missing = await ops(
      ['alerts', 'ack', '99999999', '--operator', 'erin', '--reason', 'x y z'],
      env,
    );
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr.trim()).toBe('no alert 99999999');
  });
});
