/**
 * Debian's real Prometheus server scrapes a running controller's /metrics on
 * loopback with the dashboard token as bearer token; the values are read
 * back through Prometheus's HTTP API and compared with the controller's own
 * status. A second scrape job with a wrong token must be refused (the
 * target is down with a 403).
 *
 *   node --import tsx --test test/dashboard/prometheus.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cluster } from '../../cluster/client/cluster';
import { tempDirMaker } from '../support/tmp';
import { TASKS, freePort, routeUrl, tokenOf, until } from './support/dashboard-client';

const PROMETHEUS = '/usr/bin/prometheus';
const tempDir = tempDirMaker('hpcdl-prom-');

describe('Prometheus scrapes the controller', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let prometheus: ChildProcess;
  let api = '';
  let stderr = '';

  before(async () => {
    assert.ok(fs.existsSync(PROMETHEUS), `${PROMETHEUS} missing (Debian package prometheus)`);
    cluster = await Cluster.start({ engines: 2, profileDir: tempDir(), log: () => undefined, output: 'drop' });
    const target = new URL(cluster.dashboardUrl).host;
    const dir = tempDir();
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      'scrape_configs:',
      '  - job_name: hpcdl',
      '    authorization: { type: Bearer, credentials: ' + tokenOf(cluster.dashboardUrl) + ' }',
      `    static_configs: [{ targets: ['${target}'] }]`,
      '  - job_name: wrong-token',
      '    authorization: { type: Bearer, credentials: ' + 'f'.repeat(32) + ' }',
      `    static_configs: [{ targets: ['${target}'] }]`,
    ].join('\n');
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    api = `http://127.0.0.1:${port}/api/v1`;
    prometheus = spawn(PROMETHEUS, [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    prometheus.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  });

  after(async () => {
    if (prometheus?.pid) prometheus.kill('SIGTERM');
    await cluster?.close();
  });

  async function query(q: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
    const r = await fetch(`${api}/query?query=${encodeURIComponent(q)}`).then((x) => x.json());
    assert.equal(r.status, 'success', JSON.stringify(r));
    return r.data.result;
  }

  async function scalar(q: string): Promise<number | null> {
    const result = await query(q).catch(() => []);
    return result.length ? Number(result[0].value[1]) : null;
  }

  test('engines, tasks by state, dispatches, queue depth, node CPU/memory and training throughput read back from Prometheus', async () => {
    const n = 6;
    const results = await Promise.all(Array.from({ length: n }, (_, i) => cluster.balanced().submit<number>({ module: TASKS, export: 'trainSteps' }, 2, 50, i % 2, `p${i}`)));
    assert.deepEqual(results, Array(n).fill(2));
    const failed = cluster.balanced().submit({ module: TASKS, export: 'fail' }, 'for the error count');
    await assert.rejects(failed);
    const status = await fetch(routeUrl(cluster.dashboardUrl, 'api/status')).then((r) => r.json());
    // Scrapes every second: wait until one after the tasks above has landed.
    await until(async () => (await scalar('hpcdl_tasks{job="hpcdl",state="done"}')) === status.tasks.done, 60_000, `Prometheus to scrape the done count (${stderr.slice(-500)})`);
    assert.equal(await scalar('up{job="hpcdl"}'), 1);
    assert.equal(await scalar('hpcdl_tasks{job="hpcdl",state="error"}'), status.tasks.error);
    assert.equal(await scalar('hpcdl_engines{job="hpcdl",state="alive"}'), 2);
    assert.equal(await scalar('hpcdl_engines{job="hpcdl",state="dead"}'), 0);
    assert.ok((await scalar('hpcdl_tasks_dispatched_total{job="hpcdl"}'))! >= n + 1);
    assert.equal(await scalar('hpcdl_queue_depth{job="hpcdl"}'), 0);
    const cpu = await scalar(`hpcdl_node_cpu_percent{job="hpcdl",host="${os.hostname()}"}`);
    assert.ok(cpu !== null && cpu >= 0 && cpu <= 100, `node CPU ${cpu}`);
    assert.ok((await scalar(`hpcdl_node_memory_used_bytes{job="hpcdl",host="${os.hostname()}"}`))! > 0);
    const throughput = await query('hpcdl_training_images_per_second{job="hpcdl",rank="all"}');
    assert.ok(throughput.length >= 1 && Number(throughput[0].value[1]) > 0, JSON.stringify(throughput));
  });

  test('a scrape with the wrong bearer token is refused (target down, HTTP 403)', async () => {
    await until(async () => (await scalar('up{job="wrong-token"}')) === 0, 30_000, 'the wrong-token target to be scraped');
    const targets = await fetch(`${api}/targets`).then((r) => r.json());
    const wrong = targets.data.activeTargets.find((t: any) => t.labels.job === 'wrong-token');
    assert.equal(wrong.health, 'down');
    assert.match(wrong.lastError, /403/);
    assert.equal(await scalar('hpcdl_engines{job="wrong-token"}'), null, 'no data through a refused scrape');
  });
});
