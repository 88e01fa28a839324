import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ORDER_EMAIL_KINDS } from '../../workflows/contracts.ts';
import { startResendStandIn, type ResendStandIn } from '../../stack/resend-stand-in.ts';
import { startSmtpSink } from '../helpers/smtp-sink.ts';

const run = promisify(execFile);
const ops = (args: string[], env: Record<string, string> = {}) =>
  run(process.execPath, ['scripts/ops.ts', ...args, '--json'], {
    env: { PATH: process.env['PATH'], ...env },
  });

let standIn: ResendStandIn;
let sink: Awaited<ReturnType<typeof startSmtpSink>>;
let out: string;
beforeAll(async () => {
  standIn = await startResendStandIn();
  sink = await startSmtpSink();
  out = await mkdtemp(path.join(os.tmpdir(), 'email-preview-'));
});
afterAll(async () => {
  await standIn?.close();
  await sink?.close();
  await rm(out, { recursive: true, force: true });
});

describe('npm run ops -- email', () => {
  it('previews every template as HTML and text from one source, escaping what it interpolates', async () => {
    for (const kind of ORDER_EMAIL_KINDS) {
      const [row] = JSON.parse((await ops(['email', 'preview', kind, '--out', out])).stdout) as {
        html: string;
        text: string;
        subject: string;
      }[];
      const html = await readFile(row!.html, 'utf8');
      const text = await readFile(row!.text, 'utf8');
      expect(html).toContain('<!doctype html>');
      expect(html).toContain('Webhooks &lt;Course&gt; Workbook &amp; Notes');
      expect(html).not.toContain('<Course>');
      expect(text).toContain('Webhooks <Course> Workbook & Notes');
      expect(text).toContain(row!.subject);
    }
    const receipt = await readFile(path.join(out, 'delivery.txt'), 'utf8');
    expect(receipt).toContain('€49.00');
    expect(receipt).toContain('Refunds: within 14 days');
    expect(receipt).toContain('create an account');
  });

  it('drills a primary outage: the SMTP fallback delivers every message and the figures say when it took over', async () => {
    const { stdout } = await ops(['email', 'drill', '--messages', '3', '--to', 'ops@example.com'], {
      STRIPE_SECRET_KEY: 'sk_test_drill',
      STRIPE_WEBHOOK_SECRETS: 'whsec_drill',
      EMAIL_DRIVER: 'resend',
      RESEND_API_KEY: 're_drill_key',
      RESEND_API_URL: standIn.url,
      EMAIL_FALLBACK_DRIVER: 'smtp',
      SMTP_URL: sink.url,
      EMAIL_FAILOVER_THRESHOLD: '2',
    });
    const [report] = JSON.parse(stdout) as {
      sent_by: Record<string, number>;
      failover_after_ms: number;
      primary_failures: number;
    }[];
    expect(report).toMatchObject({ sent_by: { smtp: 3 }, primary_failures: 1 });
    expect(report!.failover_after_ms).toBeGreaterThanOrEqual(0);
    expect(sink.received.filter((mail) => mail.to.includes('ops@example.com'))).toHaveLength(3);
    expect(standIn.sent).toHaveLength(0);
  });

  it('refuses to drill without a fallback, naming the setting', async () => {
    const failure = await ops(['email', 'drill'], {
      STRIPE_SECRET_KEY: 'sk_test_drill',
      STRIPE_WEBHOOK_SECRETS: 'whsec_drill',
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr: string }).stderr).toContain('EMAIL_FALLBACK_DRIVER');
  });
});
