// A real Prometheus (Debian's package) against the service as deployed: the api and the worker
// as processes (scripts/api.ts, scripts/worker.ts), scraped every second, with the project's
// alert and SLO rules loaded. The rules evaluate without error on the live metrics, the SLIs
// come out of real traffic, and an SLO burn-rate alert fires on a real processing failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { Cleanups } from '../../stack/cleanups.ts';
import { startDeployedStack, type DeployedStack } from '../../stack/deployed-stack.ts';
import { getFreePort, waitFor } from '../../stack/processes.ts';
import { RULE_FILES, startPrometheus, type RunningPrometheus } from '../../stack/prometheus.ts';
import {
  buildPaymentIntentSucceededEvent,
  stripeEvent,
  stripeTestId,
} from '../../stack/stripe-events.ts';

interface RuleGroup {
  name: string;
  lastEvaluation: string;
  rules: { name: string; type: 'alerting' | 'recording'; health: string; lastError?: string }[];
}
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const cleanups = new Cleanups('prometheus test');
let stack: DeployedStack;
let prometheus: RunningPrometheus;
const startedAt = Date.now();

beforeAll(async () => {
  const workerMetricsPort = await getFreePort();
  stack = await startDeployedStack(cleanups, {
    name: 'prometheus',
    env: { WORKER_METRICS_PORT: String(workerMetricsPort) },
  });
  prometheus = await startPrometheus(cleanups, {
    targets: [
      { job: 'api', address: new URL(stack.apiUrl).host },
      { job: 'worker', address: `127.0.0.1:${workerMetricsPort}` },
    ],
  });
}, 180_000);
afterAll(async () => {
  await cleanups.runAll();
});

const query = (promql: string) =>
  prometheus.api<{ result: Sample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}`);

/** Every rule name in the project's rule files, by group. */
const shippedGroups = RULE_FILES.flatMap(
  (file) =>
    (
      parse(readFileSync(file, 'utf8')) as {
        groups: { name: string; rules: ({ alert: string } | { record: string })[] }[];
      }
    ).groups,
);

describe('the rules in a real Prometheus, scraping the api and the worker', () => {
  it('scrapes both processes, and evaluates every rule without error', async () => {
    await waitFor(
      'both targets up',
      async () => {
        const { activeTargets } = await prometheus.api<{
          activeTargets: { labels: { job: string }; health: string }[];
        }>('/api/v1/targets');
        return (
          activeTargets.length === 2 && activeTargets.every((target) => target.health === 'up')
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );

    let groups: RuleGroup[] = [];
    await waitFor(
      'every rule group evaluated',
      async () => {
        ({ groups } = await prometheus.api<{ groups: RuleGroup[] }>('/api/v1/rules'));
        return (
          groups.length === shippedGroups.length &&
          groups.every((group) => Date.parse(group.lastEvaluation) > startedAt)
        );
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    expect(groups.map((group) => group.name).sort()).toEqual(
      shippedGroups.map((group) => group.name).sort(),
    );
    const unhealthy = groups
      .flatMap((group) => group.rules)
      .filter((rule) => rule.health !== 'ok')
      .map((rule) => `${rule.name}: ${rule.health} ${rule.lastError ?? ''}`);
    expect(unhealthy).toEqual([]);
    expect(groups.flatMap((group) => group.rules).length).toBe(
      shippedGroups.flatMap((group) => group.rules).length,
    );

    // The one gauge read from Postgres comes from the worker alone.
    const gauges = await query('count by (job) (fulfillment_jobs_active)');
    expect(gauges.result.map((sample) => sample.metric['job'])).toEqual(['worker']);

    // Every dashboard query is valid PromQL for this Prometheus (api/v1/query rejects others).
    const dashboard = JSON.parse(
      readFileSync(
        new URL('../../observability/grafana/fulfillment.json', import.meta.url),
        'utf8',
      ),
    ) as { panels: { title: string; targets: { expr: string }[] }[] };
    for (const panel of dashboard.panels)
      for (const { expr } of panel.targets)
        await expect(query(expr), `${panel.title}: ${expr}`).resolves.toBeDefined();
  });

  it('computes the SLIs from real purchases, and pages on a real webhook processing failure', async () => {
    // Purchases through the deployed api, fulfilled by the deployed worker.
    for (let i = 0; i < 3; i += 1) {
      const status = await stack.postEvent(
        buildPaymentIntentSucceededEvent({
          paymentIntentId: stripeTestId('pi'),
          skus: ['ebook-durable-execution'],
        }),
      );
      expect(status).toBe(200);
    }
    await waitFor(
      'webhook and payment-to-email SLIs at 100 %',
      async () => {
        const [webhooks, receipts] = await Promise.all([
          query('sli:webhook_processing:success_ratio_rate5m'),
          query('sli:payment_to_email:within_5m_ratio_rate5m'),
        ]);
        return webhooks.result[0]?.value[1] === '1' && receipts.result[0]?.value[1] === '1';
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    const firingBefore = await prometheus.api<{ alerts: { labels: { alertname: string } }[] }>(
      '/api/v1/alerts',
    );
    expect(firingBefore.alerts.map((alert) => alert.labels.alertname)).not.toContain(
      'WebhookProcessingBudgetBurn',
    );

    // A signed event that cannot be processed: recorded as failed, an SLI error.
    const broken = stripeEvent('payment_intent.succeeded', { object: 'payment_intent' });
    expect(await stack.postEvent(broken)).toBe(200);
    await waitFor(
      'WebhookProcessingBudgetBurn firing',
      async () => {
        const { alerts } = await prometheus.api<{
          alerts: { labels: Record<string, string>; state: string }[];
        }>('/api/v1/alerts');
        return alerts.some(
          (alert) =>
            alert.labels['alertname'] === 'WebhookProcessingBudgetBurn' &&
            alert.labels['slo'] === 'webhook-processing' &&
            alert.labels['severity'] === 'critical' &&
            alert.state === 'firing',
        );
      },
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    const ratio = await query('slo:sli_error:ratio_rate5m{slo="webhook-processing"}');
    expect(Number(ratio.result[0]?.value[1])).toBeGreaterThan(0.0144);
  });
});
