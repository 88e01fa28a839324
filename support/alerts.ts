import type { Db } from '../db/database.ts';
import { insertAlertOnce } from '../db/queries/alerts.ts';
import { redactEmails } from '../security/redaction.ts';

export interface AlertSinks {
  /** A Slack incoming-webhook URL (or anything that accepts `{ text }`). */
  slackWebhookUrl?: string | undefined;
  /** A generic webhook that receives the alert as JSON. */
  webhookUrl?: string | undefined;
}

export interface AlertInput {
  /** Deduplication key: one alert per key, however often it is raised. */
  key: string;
  kind: string;
  severity: 'warning' | 'critical';
  summary: string;
  jobId?: string | null;
  detail?: Record<string, unknown>;
}

async function post(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    // A slow sink must not hold the worker: the alert is already stored and logged.
    signal: AbortSignal.timeout(5_000),
  });
  if (!response.ok) throw new Error(`alert sink answered ${response.status}`);
}

/**
 * Raises an alert once per key: stored in `alerts`, written as a structured log line, and
 * posted to the configured sinks. A sink that fails is logged, never retried into duplicates.
 */
export async function raiseAlert(db: Db, sinks: AlertSinks, alert: AlertInput): Promise<boolean> {
  const inserted = await insertAlertOnce(db, {
    alert_key: alert.key,
    kind: alert.kind,
    severity: alert.severity,
    summary: alert.summary,
    job_id: alert.jobId ?? null,
    detail: alert.detail ? JSON.stringify(alert.detail) : null,
  });
  if (!inserted) return false;
  // The row keeps the whole alert for operators; the log line carries no buyer address.
  console.warn(redactEmails(JSON.stringify({ level: 'warn', msg: 'alert', alert })));
  const deliveries: Promise<void>[] = [];
  if (sinks.slackWebhookUrl) {
    deliveries.push(post(sinks.slackWebhookUrl, { text: `[${alert.severity}] ${alert.summary}` }));
  }
  if (sinks.webhookUrl) deliveries.push(post(sinks.webhookUrl, alert));
  for (const result of await Promise.allSettled(deliveries)) {
    if (result.status === 'rejected') {
      console.warn(
        JSON.stringify({
          level: 'warn',
          msg: 'alert sink failed',
          key: alert.key,
          error: redactEmails(String(result.reason)),
        }),
      );
    }
  }
  return true;
}
