/**
 * The dashboard in a real browser behind a real proxy: a cluster (in-process
 * controller, three local engine processes), configurable-http-proxy with a
 * JupyterHub-style prefix route /user/ana/proxy/<port>/ to the controller, and
 * headless Chromium (Debian's, driven by playwright-core). The page loads
 * with the token and shows the engines; a task's report() appears on the
 * page within 1 s; the cancel button cancels a running task; the stop button
 * stops an engine and the page shows it dead; without the token the page is
 * refused; every request the page makes goes to the proxy's origin.
 * Screenshots: test-artifacts/dashboard-*.png.
 *
 *   node --import tsx --test test/dashboard/browser.test.ts
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { Cluster } from '../../cluster/client/cluster';
import { alive } from '../support/pids';
import { tempDirMaker } from '../support/tmp';
import { TASKS, freePort, tokenOf, until } from './support/dashboard-client';

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CHROMIUM = '/usr/bin/chromium';
// --disable-gpu: no WebGL, so the page must draw everything with SVG (it does: Plotly's WebGL traces would also need 'unsafe-eval')
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const CHP = path.join(REPO_ROOT, 'node_modules', '.bin', 'configurable-http-proxy');
const tempDir = tempDirMaker('hpcdl-dashb-');

/** configurable-http-proxy on loopback with one prefix route to `target`; returns its public base URL for the prefix. */
async function startProxy(target: string, prefix: string): Promise<{ child: ChildProcess; base: string }> {
  const [port, apiPort] = [await freePort(), await freePort()];
  const authToken = 'chp-test-token';
  const child = spawn(CHP, ['--ip', '127.0.0.1', '--port', String(port), '--api-ip', '127.0.0.1', '--api-port', String(apiPort), '--log-level', 'warn'], {
    env: { ...process.env, CONFIGPROXY_AUTH_TOKEN: authToken },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  await until(async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${apiPort}/api/routes${prefix}`, { method: 'POST', headers: { authorization: `token ${authToken}` }, body: JSON.stringify({ target }) });
      return r.status === 201;
    } catch {
      return false;
    }
  }, 20_000, `configurable-http-proxy to accept a route (${stderr})`);
  return { child, base: `http://127.0.0.1:${port}${prefix}/` };
}

describe('dashboard in headless Chromium behind configurable-http-proxy', { timeout: 300_000 }, () => {
  let cluster: Cluster;
  let proxy: { child: ChildProcess; base: string };
  let browser: Browser;
  let page: Page;
  let pageUrl: string;
  const requests: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing (Debian package chromium)`);
    assert.ok(fs.existsSync(CHP), `${CHP} missing (devDependency configurable-http-proxy)`);
    cluster = await Cluster.start({ engines: 3, profileDir: tempDir(), log: () => undefined, output: 'drop' });
    const controller = new URL(cluster.dashboardUrl);
    proxy = await startProxy(controller.origin, `/user/ana/proxy/${controller.port}`);
    pageUrl = `${proxy.base}?token=${tokenOf(cluster.dashboardUrl)}`;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    page.on('request', (r) => requests.push(r.url()));
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    if (proxy?.child.pid) proxy.child.kill('SIGTERM');
    await cluster?.close();
  });

  const tab = async (name: string) => page.click(`#tabs button[data-tab="${name}"]`);

  test('without the token the page is refused and says nothing about the cluster', async () => {
    const r = await page.goto(proxy.base);
    assert.equal(r?.status(), 403);
    const body = await page.content();
    assert.ok(!body.includes(cluster.clusterId), 'cluster id in the refusal');
    assert.match(body, /forbidden/);
  });

  test('with the token, through the prefix, the page shows the running engines', async () => {
    const r = await page.goto(pageUrl);
    assert.equal(r?.status(), 200);
    await page.waitForFunction(() => (window as any).hpcdlDashboard?.messages > 0, undefined, { timeout: 20_000 });
    await page.waitForFunction((id) => document.getElementById('cluster-id')?.textContent === id, cluster.clusterId, { timeout: 10_000 });
    await tab('engines');
    await page.waitForFunction(() => document.querySelectorAll('#engines tr.alive').length === 3, undefined, { timeout: 20_000 });
    const ids = await page.$$eval('#engines tr.alive td:first-child', (tds) => tds.map((td) => Number(td.textContent)));
    assert.deepEqual(ids.sort(), [...cluster.engineIds].sort());
    await page.waitForFunction(() => [...document.querySelectorAll('#engines tr.alive td:nth-child(7)')].every((td) => /\d+%/.test(td.textContent ?? '')), undefined, { timeout: 10_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-engines.png') });
  });

  test("a task's report() appears on the page within 1 s", async () => {
    await tab('tasks');
    const marker = `m${Date.now()}`;
    // The page notes when each report of the marked task first appears, against the time report() was called.
    await page.evaluate((m) => {
      const w = window as any;
      w.latencies = {};
      new MutationObserver(() => {
        const now = Date.now();
        for (const row of document.querySelectorAll('#reports tr.report')) {
          const text = row.textContent ?? '';
          if (!text.includes(`"marker":"${m}"`)) continue;
          const step = Number(/"step":(\d+)/.exec(text)![1]);
          if (!(step in w.latencies)) w.latencies[step] = now - Number(/"sent_ms":(\d+)/.exec(text)![1]);
        }
      }).observe(document.getElementById('reports')!, { childList: true, subtree: true });
    }, marker);
    // two ranks of one client: the trainings tab draws each and the global curve
    const handle = cluster.balanced().submit<number>({ module: TASKS, export: 'trainSteps' }, 8, 250, 0, marker);
    const rank1 = cluster.balanced().submit<number>({ module: TASKS, export: 'trainSteps' }, 8, 250, 1, `${marker}-r1`);
    await page.waitForFunction(() => Object.keys((window as any).latencies).length === 8, undefined, { timeout: 20_000 });
    const latencies: Record<string, number> = await page.evaluate(() => (window as any).latencies);
    assert.ok(Math.max(...Object.values(latencies)) < 1000, `every report on the page within 1 s of report(): ${JSON.stringify(latencies)} ms`);
    assert.equal(await handle, 8);
    assert.equal(await rank1, 8);
    await tab('trainings');
    // loss, accuracy and throughput: rank 0, rank 1 and global in each
    await page.waitForFunction(() => document.querySelectorAll('#trainings .training .scatterlayer path.js-line').length >= 9, undefined, { timeout: 10_000 });
    await page.waitForTimeout(1200);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-trainings.png') });
  });

  test('the cancel button cancels a running task', async () => {
    await tab('tasks');
    const handle = cluster.balanced().submit<string>({ module: TASKS, export: 'busy' }, 120_000);
    const button = `#running tr[data-task="${handle.taskId}"] button[data-act="cancel"]`;
    await page.waitForSelector(button, { timeout: 15_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-tasks.png') });
    await page.click(button);
    await assert.rejects(handle, /cancel/i);
    const info = await fetch(`${new URL(cluster.dashboardUrl).origin}/api/tasks/${handle.taskId}?token=${tokenOf(cluster.dashboardUrl)}`).then((r) => r.json());
    assert.equal(info.state, 'cancelled');
  });

  test('the stop button stops an engine and the page shows it dead', async () => {
    await tab('engines');
    const victim = cluster.engineIds[cluster.engineIds.length - 1];
    const pid = Number(await page.textContent(`#engines tr[data-engine="${victim}"] td:nth-child(3)`));
    assert.ok(alive(pid));
    await page.click(`#engines tr[data-engine="${victim}"] button[data-act="stop"]`);
    await page.waitForSelector(`#engines tr.dead[data-engine="${victim}"]`, { timeout: 20_000 });
    assert.match((await page.textContent(`#engines tr[data-engine="${victim}"] td.state`)) ?? '', /dead/);
    await until(() => !alive(pid), 10_000, 'the engine process to exit');
    assert.equal(await page.isDisabled(`#engines tr[data-engine="${victim}"] button[data-act="stop"]`), true);
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-engine-stopped.png') });
  });

  test("a search's trials show on the Searches tab: table, best so far, histogram, parallel coordinates", async () => {
    const study = cluster.search({
      space: { x: { type: 'float', low: -2, high: 3 }, kind: { type: 'categorical', choices: ['a', 'b'] } },
      objective: { module: TASKS, export: 'quadratic' },
      trials: 8,
      direction: 'min',
      seed: 1,
      chance: null,
      display: false,
      dir: tempDir(),
    });
    const trials = await study;
    assert.equal(trials.length, 8);
    await tab('searches');
    await page.waitForFunction(() => document.querySelectorAll('#searches .search table tr').length === 9, undefined, { timeout: 15_000 });
    const heading = (await page.textContent('#searches .search h3')) ?? '';
    const best = study.best()!.value!;
    assert.match(heading, new RegExp(`8 trials, 8 complete, min value, best ${best.toPrecision(4).replace('.', '\\.')}`));
    // charts redraw at most once a second: wait for the one with every trial
    await page.waitForFunction(() => document.querySelectorAll('#searches .search div[id$="-par"] .scatterlayer path.js-line').length === 8, undefined, { timeout: 10_000 }).catch(() => undefined);
    const parcoords = await page.evaluate(() => {
      const el = document.querySelector('#searches .search div[id$="-par"]') as any;
      return { lines: el?.querySelectorAll('.scatterlayer path.js-line').length ?? 0, axes: [...(el?.querySelectorAll('.xtick text') ?? [])].map((t: any) => t.textContent) };
    });
    assert.equal(parcoords.lines, 8, 'parallel coordinates: a line per trial');
    assert.deepEqual(parcoords.axes, ['x', 'kind (a | b)', 'value'], 'an axis per parameter and the objective');
    assert.ok((await page.locator('#searches .search .bars path').count()) > 0, 'score histogram drawn');
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-searches.png') });
  });

  test('the nodes and overview tabs draw their panels; no request left the proxy origin; no page errors', async () => {
    await tab('nodes');
    await page.waitForFunction(() => document.querySelectorAll('#chart-node-cpu .scatterlayer path.js-line').length > 0, undefined, { timeout: 15_000 });
    await tab('overview');
    await page.waitForFunction(() => document.querySelectorAll('#chart-task-states .scatterlayer path.js-line').length > 0, undefined, { timeout: 15_000 });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard-overview.png') });
    const origin = new URL(proxy.base).origin;
    const foreign = requests.filter((u) => new URL(u).origin !== origin);
    assert.deepEqual(foreign, [], 'requests to other origins');
    assert.ok(requests.every((u) => new URL(u).pathname.startsWith(new URL(proxy.base).pathname)), `every request under the prefix: ${requests.join(' ')}`);
    assert.deepEqual(pageErrors, []);
  });
});
