// deploy/monitoring/: the alert rules pass promtool (syntax and the firing cases in alerts.test.yml),
// and the rules and the Grafana dashboard use only metric names the relay exports.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { before, describe, test } from 'node:test';
import { createMetrics } from '../../src/observability/metrics.js';
import {
  alertExpressions,
  dashboardExpressions,
  exportedNames,
  promqlMetricNames,
  unknownNames,
} from '../support/monitoring.js';
import { ROOT } from '../kit/services.js';

const run = promisify(execFile);
const MONITORING = `${ROOT}/deploy/monitoring`;

describe('deploy/monitoring', () => {
  let exported: Set<string>;
  before(async () => {
    await run('bash', [`${ROOT}/scripts/ensure-promtool.sh`], { timeout: 300_000 });
    exported = exportedNames(
      await createMetrics({
        lagSeconds: () => 0,
        inFlightEvents: () => 0,
        sinks: ['kafka'],
      }).registry.metrics(),
    );
  });

  test('promtool check rules accepts alerts.yml and check config accepts prometheus.yml', async () => {
    const rules = await run('promtool', ['check', 'rules', `${MONITORING}/alerts.yml`]);
    assert.match(rules.stdout, /SUCCESS: 7 rules found/);
    const config = await run('promtool', ['check', 'config', `${MONITORING}/prometheus.yml`]);
    assert.match(config.stdout, /is valid prometheus config file syntax/);
  });

  test('promtool test rules: every alert fires in its case in alerts.test.yml', async () => {
    const { stdout } = await run('promtool', ['test', 'rules', `${MONITORING}/alerts.test.yml`]);
    assert.match(stdout, /SUCCESS/);
    const cases = await readFile(`${MONITORING}/alerts.test.yml`, 'utf8');
    for (const { alert } of await alertExpressions()) {
      assert.match(cases, new RegExp(`alertname: ${alert}\\n\\s+exp_alerts:\\n\\s+- exp_labels`), alert);
    }
  });

  test('the dashboard has the panels the issue asks for, and its queries use exported metrics only', async () => {
    const expressions = await dashboardExpressions();
    const all = expressions.map(({ expr }) => expr).join('\n');
    for (const name of [
      'outbox_relay_events_published_total',
      'outbox_relay_lag_seconds',
      'outbox_relay_replication_lag_bytes',
      'outbox_relay_end_to_end_seconds_bucket',
      'outbox_relay_events_dead_lettered_total',
      'outbox_relay_publish_errors_total',
    ]) {
      assert.ok(all.includes(name), `a panel shows ${name}`);
    }
    for (const { panel, expr } of expressions) {
      assert.ok(promqlMetricNames(expr).size > 0, `${panel}: ${expr} selects a metric`);
      assert.deepEqual(unknownNames(expr, exported), [], `${panel}: ${expr}`);
    }
  });

  test('the alert rules use exported metrics only', async () => {
    for (const { alert, expr } of await alertExpressions()) {
      assert.deepEqual(unknownNames(expr, exported), [], `${alert}: ${expr}`);
    }
  });
});
