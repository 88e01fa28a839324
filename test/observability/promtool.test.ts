// Every alert rule has `promtool test rules` unit tests (observability/prometheus/tests/), and
// they pass: each alert fires where it should and stays quiet where it should not. promtool comes
// from Debian's prometheus package (.ci/run installs it).
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { RULE_FILES, runPromtool } from '../../stack/prometheus.ts';
import { REPO_ROOT } from '../../stack/workflow-bundle.ts';

const testsDir = path.join(REPO_ROOT, 'observability/prometheus/tests');
const testFiles = readdirSync(testsDir)
  .filter((file) => file.endsWith('.test.yml'))
  .map((file) => path.join(testsDir, file));

interface UnitTests {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

describe('Prometheus rules', () => {
  it('pass promtool check rules', () => {
    const { status, output } = runPromtool(['check', 'rules', ...RULE_FILES]);
    expect(status, output).toBe(0);
  });

  it('load from the compose file’s Prometheus configuration (promtool check config)', () => {
    // The compose service mounts observability/prometheus at /etc/prometheus.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fulfillment-prometheus-config-'));
    try {
      const config = readFileSync(
        path.join(REPO_ROOT, 'observability/prometheus/prometheus.compose.yml'),
        'utf8',
      ).replaceAll('/etc/prometheus/', `${path.join(REPO_ROOT, 'observability/prometheus')}/`);
      writeFileSync(path.join(dir, 'prometheus.yml'), config);
      const { status, output } = runPromtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect(status, output).toBe(0);
      expect(output).toContain('is valid prometheus config file syntax');
      expect(output).toContain('SUCCESS: 2 rule files found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('have a test where each alert fires and one where it stays quiet', () => {
    const alerts = RULE_FILES.flatMap((file) =>
      (
        parse(readFileSync(file, 'utf8')) as { groups: { rules: { alert?: string }[] }[] }
      ).groups.flatMap((group) => group.rules.flatMap((rule) => (rule.alert ? [rule.alert] : []))),
    );
    expect(alerts.length).toBeGreaterThanOrEqual(20);
    const cases = testFiles.flatMap((file) => {
      const unit = parse(readFileSync(file, 'utf8')) as UnitTests;
      // Every test file loads the rules as shipped.
      expect(unit.rule_files.map((rules) => path.resolve(testsDir, rules)).sort()).toEqual(
        [...RULE_FILES].sort(),
      );
      return unit.tests.flatMap((test) => test.alert_rule_test ?? []);
    });
    const untested = alerts.flatMap((alert) => {
      const mine = cases.filter((c) => c.alertname === alert);
      return [
        ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${alert} never fires`]),
        ...(mine.some((c) => (c.exp_alerts ?? []).length === 0) ? [] : [`${alert} never quiet`]),
      ];
    });
    expect(untested).toEqual([]);
  });

  it.each(testFiles.map((file) => [path.basename(file), file]))(
    'pass promtool test rules %s',
    (_name, file) => {
      const { status, output } = runPromtool(['test', 'rules', file]);
      expect(status, output).toBe(0);
      expect(output).toContain('SUCCESS');
    },
    // Three days of samples on a loaded two-core machine.
    240_000,
  );
});
