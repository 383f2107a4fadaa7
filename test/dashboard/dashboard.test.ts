/**
 * The dashboard over HTTP, against a real cluster (in-process controller, three
 * local engine processes): the token on every route with a bare 403 without
 * it, controls only as POST from the dashboard's own origin, the token kept
 * out of the controller's log, per-engine CPU and memory (the engine's, not
 * the node's), reports pushed within 1 s, cancel / stop / restart through the
 * controls, and /metrics read with prom-client's own format.
 *
 *   node --import tsx --test test/dashboard/dashboard.test.ts
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cluster } from '../../cluster/client/cluster';
import { proxiedDashboardUrl } from '../../cluster/client/dashboard-link';
import { setDisplayChannel } from '../../src/notebook-hooks';
import { routeOf } from '../../cluster/dashboard';
import { Ring, DashboardState, MAX_NODE_LINES } from '../../cluster/dashboard/state';
import { thin } from '../../cluster/dashboard/server';
import { alive } from '../support/pids';
import { tempDirMaker } from '../support/tmp';
import { PushReader, TASKS, routeUrl, tokenOf, until } from './support/dashboard-client';

const tempDir = tempDirMaker('hpcdl-dash-');
const FORBIDDEN = '{"error":"forbidden"}';

describe('dashboard over HTTP on a running cluster', { timeout: 180_000 }, () => {
  let cluster: Cluster;
  let profileDir: string;
  const logLines: string[] = [];

  before(async () => {
    profileDir = tempDir();
    cluster = await Cluster.start({ engines: 3, profileDir, log: (l) => logLines.push(l), output: 'drop' });
  });

  after(async () => {
    await cluster?.close();
  });

  test('the client prints the dashboard link when it starts a cluster, and has dashboardUrl', () => {
    assert.match(cluster.dashboardUrl, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}$/);
    assert.ok(logLines.some((l) => l.includes(`dashboard: ${cluster.dashboardUrl}`)), logLines.join('\n'));
  });

  test('cluster.dashboard() shows the link and a summary in the notebook (display channel), and prints it outside one', async () => {
    const published: { data: Record<string, unknown> }[] = [];
    setDisplayChannel({ publish: (content) => published.push(content) });
    try {
      const link = await cluster.dashboard();
      assert.equal(published.length, 1);
      const html = String(published[0].data['text/html']);
      assert.ok(html.includes(`href="${cluster.dashboardUrl}"`), html);
      assert.match(html, /3 engines alive/);
      assert.match(String(published[0].data['text/plain']), /engines: 3 alive, 0 dead; tasks: \d+ queued/);
      assert.equal(link.url, cluster.dashboardUrl);
    } finally {
      setDisplayChannel(null);
    }
    const before = logLines.length;
    await cluster.dashboard();
    assert.match(logLines.slice(before).join('\n'), /dashboard: http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{32}\n  engines: 3 alive/);
    assert.equal(proxiedDashboardUrl('http://10.0.0.5:41234/?token=abc', { JUPYTERHUB_SERVICE_PREFIX: '/user/ana/' }), '/user/ana/proxy/41234/?token=abc');
    assert.equal(proxiedDashboardUrl('http://10.0.0.5:41234/?token=abc', {}), null);
  });

  test('every route needs the token: without it or with a wrong one, 403 and nothing about the cluster', async () => {
    const routes = ['', 'api/status', 'api/engines', 'api/tasks', 'api/tasks/x', 'api/resources/0', 'api/reports', 'api/searches', 'api/events', 'metrics', 'static/dashboard.js', 'static/plotly.min.js', 'nope'];
    const wrong = 'f'.repeat(32);
    for (const route of routes) {
      for (const url of [routeUrl(cluster.dashboardUrl, route, false), routeUrl(cluster.dashboardUrl, route, false) + `?token=${wrong}`]) {
        const r = await fetch(url, { headers: { authorization: 'Bearer nottheone' } });
        assert.equal(r.status, 403, `${route}: ${r.status}`);
        assert.equal(await r.text(), FORBIDDEN, route);
      }
    }
    for (const route of ['api/tasks/x/cancel', 'api/engines/0/stop', 'api/engines/0/restart']) {
      const r = await fetch(routeUrl(cluster.dashboardUrl, route, false), { method: 'POST' });
      assert.equal(r.status, 403, route);
      assert.equal(await r.text(), FORBIDDEN, route);
    }
    for (const route of ['', 'api/status', 'metrics', 'static/dashboard.js', 'static/plotly.min.js']) {
      const r = await fetch(routeUrl(cluster.dashboardUrl, route));
      assert.equal(r.status, 200, route);
      await r.arrayBuffer();
    }
    const header = await fetch(routeUrl(cluster.dashboardUrl, 'api/status', false), { headers: { authorization: `Bearer ${tokenOf(cluster.dashboardUrl)}` } });
    assert.equal(header.status, 200);
    assert.equal((await header.json()).cluster_id, cluster.clusterId);
  });

  test('the page links only relative URLs and allows no other origin', async () => {
    const r = await fetch(cluster.dashboardUrl);
    const html = await r.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(refs.length >= 3, html);
    for (const ref of refs) assert.ok(!/^(?:[a-z]+:)?\/\//i.test(ref) && !ref.startsWith('/'), `absolute reference ${ref}`);
    assert.match(r.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    const js = await fetch(routeUrl(cluster.dashboardUrl, 'static/dashboard.js')).then((x) => x.text());
    assert.doesNotMatch(js, /https?:\/\//, 'the page script names no other origin');
  });

  test('routes are found under a proxy prefix, and the page only at a directory path', () => {
    assert.equal(routeOf('/'), 'page');
    assert.equal(routeOf('/user/ana/proxy/8000/'), 'page');
    assert.equal(routeOf('/user/ana/proxy/8000/api/engines'), 'api/engines');
    assert.equal(routeOf('/user/ana/proxy/8000/api/tasks/abc-1/cancel'), 'api/tasks/abc-1/cancel');
    assert.equal(routeOf('/user/ana/proxy/8000/static/dashboard.js'), 'static/dashboard.js');
    assert.equal(routeOf('/p/metrics'), 'metrics');
    assert.equal(routeOf('/user/ana/proxy/8000'), null);
  });

  test('controls are POST only and refuse a foreign Origin or a missing one without the Authorization header', async () => {
    const handle = cluster.balanced().submit<string>({ module: TASKS, export: 'busy' }, 60_000);
    await until(() => handle.engineId !== null, 10_000, 'the task to start');
    const url = routeUrl(cluster.dashboardUrl, `api/tasks/${handle.taskId}/cancel`);
    const get = await fetch(url);
    assert.equal(get.status, 404, 'a GET does not act');
    const foreign = await fetch(url, { method: 'POST', headers: { origin: 'http://evil.example' } });
    assert.equal(foreign.status, 403);
    assert.equal(await foreign.text(), FORBIDDEN);
    const bare = await fetch(url, { method: 'POST' });
    assert.equal(bare.status, 403, 'no Origin and the token only in the query');
    const status = await fetch(routeUrl(cluster.dashboardUrl, `api/tasks/${handle.taskId}`)).then((r) => r.json());
    assert.equal(status.state, 'running', 'the refused requests did not cancel it');
    const own = await fetch(url, { method: 'POST', headers: { origin: new URL(cluster.dashboardUrl).origin } });
    assert.equal(own.status, 200, await own.text());
    await assert.rejects(handle, /cancel/i);
    const again = await fetch(url, { method: 'POST', headers: { authorization: `token ${tokenOf(cluster.dashboardUrl)}` } });
    assert.equal(again.status, 409);
    assert.match((await again.json()).error, /already ended \(cancelled\)/);
  });

  test("engines show the engine's own CPU and memory (not the node's total) and their current task", async () => {
    const handle = cluster.balanced().submit<string>({ module: TASKS, export: 'busy' }, 60_000);
    await until(() => handle.engineId !== null, 10_000, 'the task to start');
    let row: any;
    await until(async () => {
      const engines = await fetch(routeUrl(cluster.dashboardUrl, 'api/engines')).then((r) => r.json());
      row = engines.find((e: any) => e.engine_id === handle.engineId);
      return typeof row?.cpu_percent === 'number' && row.tasks.includes(handle.taskId);
    }, 10_000, 'a resource sample and the current task');
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${row.pid}/status`, 'utf8'))![1]) * 1024;
    assert.ok(row.memory_bytes < row.resources.memory_bytes / 4, `memory ${row.memory_bytes} is not the node total ${row.resources.memory_bytes}`);
    assert.ok(row.memory_bytes > rss / 2 && row.memory_bytes < rss * 2, `memory ${row.memory_bytes} vs the engine's RSS ${rss}`);
    assert.ok(row.cpu_percent >= 0 && row.cpu_percent <= 100 * row.resources.cpus);
    handle.cancel();
    await handle.catch(() => undefined);
  });

  test("a task's report() is pushed to the page's channel within 1 s", async () => {
    const push = new PushReader(routeUrl(cluster.dashboardUrl, 'api/events'));
    try {
      await push.waitFor((m) => m.type === 'snapshot', 5000, 'the snapshot');
      const marker = `m${Date.now()}`;
      const handle = cluster.balanced().submit<number>({ module: TASKS, export: 'trainSteps' }, 3, 300, 0, marker);
      const got = await push.waitFor((m) => (m.reports ?? []).some((r: any) => r.data.marker === marker), 5000, 'the report');
      const report = got.data.reports.find((r: any) => r.data.marker === marker);
      const latency = got.at - report.data.sent_ms;
      assert.ok(latency < 1000, `report reached the push channel after ${latency} ms`);
      assert.equal(await handle, 3);
      const training = await push.waitFor((m) => (m.trainings ?? []).some((t: any) => t.ranks[0]?.points.length >= 3), 5000, 'the training curve');
      assert.ok(training.data.trainings.length >= 1);
      const done = await push.waitFor((m) => (m.stream ?? []).some((b: any) => b.task_id === handle.taskId && b.state === 'done'), 5000, 'the task in the task stream');
      assert.ok(done);
    } finally {
      push.close();
    }
  });

  test('a failure shows with its error text', async () => {
    const push = new PushReader(routeUrl(cluster.dashboardUrl, 'api/events'));
    try {
      await push.waitFor((m) => m.type === 'snapshot', 5000, 'the snapshot');
      const handle = cluster.balanced().submit({ module: TASKS, export: 'fail' }, 'the detector is on fire');
      await assert.rejects(handle);
      const got = await push.waitFor((m) => (m.failures ?? []).some((f: any) => f.task_id === handle.taskId), 5000, 'the failure');
      const f = got.data.failures.find((x: any) => x.task_id === handle.taskId);
      assert.match(`${f.ename}: ${f.evalue}`, /Error: the detector is on fire/);
    } finally {
      push.close();
    }
  });

  test('/metrics: engines, tasks by state, dispatches, queue, node CPU/memory, training throughput', async () => {
    const status = await fetch(routeUrl(cluster.dashboardUrl, 'api/status')).then((r) => r.json());
    const r = await fetch(routeUrl(cluster.dashboardUrl, 'metrics'));
    assert.match(r.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
    const text = await r.text();
    const value = (series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(series + ' '));
      assert.ok(line, `${series} missing from:\n${text.slice(0, 2000)}`);
      return Number(line.split(' ').pop());
    };
    assert.equal(value('hpcdl_engines{state="alive"}'), status.engines.alive);
    assert.equal(value('hpcdl_tasks{state="done"}'), status.tasks.done);
    assert.equal(value('hpcdl_tasks{state="error"}'), status.tasks.error);
    assert.equal(value('hpcdl_tasks{state="cancelled"}'), status.tasks.cancelled);
    assert.ok(value('hpcdl_tasks_dispatched_total') >= status.tasks.done + status.tasks.error);
    assert.equal(value('hpcdl_queue_depth'), 0);
    const cpu = value(`hpcdl_node_cpu_percent{host="${os.hostname()}"}`);
    assert.ok(cpu >= 0 && cpu <= 100, `node CPU ${cpu}`);
    assert.ok(value(`hpcdl_node_memory_used_bytes{host="${os.hostname()}"}`) > 0);
    assert.match(text, /hpcdl_training_images_per_second\{training="[^"]+",rank="all"\} \d+/);
  });

  test('stop: the engine shuts down, shows dead and is not replaced; restart goes through its launcher', async () => {
    const engines = await fetch(routeUrl(cluster.dashboardUrl, 'api/engines')).then((r) => r.json());
    const [victim, restarted] = engines.filter((e: any) => e.state === 'alive').slice(-2);
    assert.deepEqual(victim.controls, { stop: null, restart: null });
    const origin = { origin: new URL(cluster.dashboardUrl).origin };
    const stop = await fetch(routeUrl(cluster.dashboardUrl, `api/engines/${victim.engine_id}/stop`), { method: 'POST', headers: origin });
    assert.equal(stop.status, 200, await stop.text());
    await until(async () => {
      const list = await fetch(routeUrl(cluster.dashboardUrl, 'api/engines')).then((r) => r.json());
      return list.find((e: any) => e.engine_id === victim.engine_id)?.state === 'dead';
    }, 15_000, 'the stopped engine to show dead');
    await until(() => !alive(victim.pid), 10_000, 'the engine process to exit');
    const restart = await fetch(routeUrl(cluster.dashboardUrl, `api/engines/${restarted.engine_id}/restart`), { method: 'POST', headers: origin });
    assert.equal(restart.status, 200, await restart.text());
    await until(async () => {
      const list = await fetch(routeUrl(cluster.dashboardUrl, 'api/engines')).then((r) => r.json());
      return list.some((e: any) => e.state === 'alive' && e.pid !== restarted.pid && e.labels.launch_slot === restarted.labels.launch_slot);
    }, 30_000, 'a new engine in the restarted launch slot');
    await new Promise((r) => setTimeout(r, 1500));
    const list = await fetch(routeUrl(cluster.dashboardUrl, 'api/engines')).then((r) => r.json());
    assert.ok(!list.some((e: any) => e.state === 'alive' && e.labels.launch_slot === victim.labels.launch_slot), 'the stopped engine was not replaced');
    const gone = await fetch(routeUrl(cluster.dashboardUrl, `api/engines/${victim.engine_id}/restart`), { method: 'POST', headers: origin });
    assert.equal(gone.status, 409);
  });

  test("the controller's log never holds the token", () => {
    const log = fs.readFileSync(path.join(profileDir, 'clusters', cluster.clusterId, 'controller.log'), 'utf8');
    assert.match(log, /listening on/);
    assert.ok(!log.includes(tokenOf(cluster.dashboardUrl)), 'token in controller.log');
  });
});

test('an engine started by hand cannot be restarted from the dashboard, and says why', async () => {
  const profileDir = tempDir();
  const cluster = await Cluster.start({ engines: 0, profileDir, log: () => undefined, controller: 'process' });
  const { spawn } = await import('node:child_process');
  const engine = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../../cli/index.ts'), 'engine', '--connect', cluster.connectionFile], { stdio: 'ignore' });
  try {
    await cluster.waitForEngines(1, 30_000);
    const [row] = await fetch(routeUrl(cluster.dashboardUrl, 'api/engines')).then((r) => r.json());
    assert.equal(row.controls.stop, null);
    assert.match(row.controls.restart, /started by hand/);
    const r = await fetch(routeUrl(cluster.dashboardUrl, `api/engines/${row.engine_id}/restart`), { method: 'POST', headers: { origin: new URL(cluster.dashboardUrl).origin } });
    assert.equal(r.status, 409);
    const log = fs.readFileSync(path.join(profileDir, 'clusters', cluster.clusterId, 'controller.log'), 'utf8');
    assert.match(log, /dashboard: http:\/\/127\.0\.0\.1:\d+\/ \(token: dashboard_url in the connection file\)/);
    assert.ok(!log.includes(tokenOf(cluster.dashboardUrl)), 'token in the log of a controller process');
  } finally {
    engine.kill('SIGTERM');
    await cluster.close();
  }
});

test('histories are bounded: rings keep their capacity, node lines are capped with a mean, curves are thinned', () => {
  const ring = new Ring<number>(5);
  for (let i = 0; i < 12; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [7, 8, 9, 10, 11]);
  assert.deepEqual(ring.since(9), [9, 10, 11], "the items pushed after the first 9");
  assert.deepEqual(ring.since(0), [7, 8, 9, 10, 11]);
  const state = new DashboardState();
  for (let n = 0; n < 40; n++) {
    for (let s = 0; s < 400; s++) state.resources(n, { host: `node${n}`, time_ms: 1_000_000 + s * 1000, cpu: { total_percent: n }, memory: { used_bytes: 1 }, gpus: [] });
  }
  const lines = state.nodeSeries();
  assert.equal(lines.length, MAX_NODE_LINES);
  assert.ok(lines.every((l) => l.points.length <= 300));
  assert.equal(lines[0].host, 'node39', 'the busiest node first');
  assert.match(lines[lines.length - 1].host, /mean of 40 nodes/);
  assert.equal(lines[lines.length - 1].points[0].cpu, 19.5);
  const thinned = thin(Array.from({ length: 2001 }, (_, i) => i), 500);
  assert.ok(thinned.length <= 501);
  assert.equal(thinned[thinned.length - 1], 2000);
});

test('GPU columns and panels: per-engine utilisation of its own GPUs, [N/A] kept out of the mean, node GPU in /metrics', async () => {
  const { Controller } = await import('../../cluster/controller');
  const { LightEngine } = await import('../../bench/support/cluster-peers');
  const controller = await Controller.start({ profileDir: tempDir(), log: () => undefined });
  const a100 = (index: number) => ({ index, name: 'NVIDIA A100-SXM4-40GB', memory_bytes: 40960 * 2 ** 20 });
  const e0 = new LightEngine({ url: controller.url, key: controller.key, host: 'gpu-node', gpus: [a100(0), a100(1)] });
  const e1 = new LightEngine({ url: controller.url, key: controller.key, host: 'gpu-node', gpus: [a100(2), a100(3)] });
  try {
    await e0.start();
    await e1.start();
    // one node sample as parseNvidiaSmi gives it (GPU 3 in MIG mode: utilisation [N/A])
    const gpus = [
      { index: 0, name: 'A100', utilization_percent: 80, memory_used_bytes: 10 * 2 ** 30, memory_total_bytes: 40 * 2 ** 30 },
      { index: 1, name: 'A100', utilization_percent: 60, memory_used_bytes: 2 * 2 ** 30, memory_total_bytes: 40 * 2 ** 30 },
      { index: 2, name: 'A100', utilization_percent: 10, memory_used_bytes: 1 * 2 ** 30, memory_total_bytes: 40 * 2 ** 30 },
      { index: 3, name: 'A100', utilization_percent: null, memory_used_bytes: 4 * 2 ** 30, memory_total_bytes: 40 * 2 ** 30 },
    ];
    const sample = { host: 'gpu-node', cpu: { total_percent: 50 }, memory: { used_bytes: 2 ** 30 }, gpus, engine: { pid: 1, rss_bytes: 2 ** 28, cpu_percent: 12 } };
    e0.sendResources(sample);
    e1.sendResources(sample);
    let rows: any[] = [];
    await until(async () => {
      rows = await fetch(routeUrl(controller.dashboardUrl, 'api/engines')).then((r) => r.json());
      return rows.length === 2 && rows.every((r) => r.gpu_percent !== null);
    }, 10_000, 'the samples on both engines');
    const byId = new Map(rows.map((r) => [r.engine_id, r]));
    assert.equal(byId.get(e0.engineId).gpu_percent, 70, 'mean of its GPUs 0 and 1');
    assert.equal(byId.get(e0.engineId).gpu_memory_bytes, 12 * 2 ** 30);
    assert.equal(byId.get(e1.engineId).gpu_percent, 10, 'GPU 3 ([N/A]) left out of the mean');
    assert.equal(byId.get(e1.engineId).gpu_memory_bytes, 5 * 2 ** 30);
    const metrics = await fetch(routeUrl(controller.dashboardUrl, 'metrics')).then((r) => r.text());
    assert.match(metrics, /hpcdl_node_gpu_utilization_percent\{host="gpu-node"\} 50\b/);
    assert.match(metrics, new RegExp(`hpcdl_node_gpu_memory_used_bytes\\{host="gpu-node"\\} ${17 * 2 ** 30}\\b`));
  } finally {
    e0.close();
    e1.close();
    await controller.close();
  }
});
