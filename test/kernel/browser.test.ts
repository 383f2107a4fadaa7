/**
 * The classic notebook web UI (Debian nbclassic) in headless Chromium
 * (Debian chromium, driven by playwright-core): run a cell that updates a
 * LiveFigure and see the plot change while the cell runs, rendered by the
 * HTML fallback with plotly.js from the package (no request leaves 127.0.0.1).
 * A screenshot is kept in $HPCDL_TEST_ARTIFACTS (default: <tmp>/hpcdl-artifacts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { installTestKernel, makeNotebook, startJupyterServer, type JupyterServer, type TestKernel } from '../support/jupyter';
import { skipIfMissing } from '../support/skips';

const CHROMIUM = ['/usr/lib/chromium/chromium', '/usr/bin/chromium'].find((p) => fs.existsSync(p));
const ARTIFACTS = process.env.HPCDL_TEST_ARTIFACTS ?? path.join(os.tmpdir(), 'hpcdl-artifacts');
const POINTS = 12;

let kernel: TestKernel;
let server: JupyterServer;
let browser: Browser | null = null;

before(async () => {
  kernel = installTestKernel('hpcdl-browsertest');
  server = await startJupyterServer({ kernelPrefixes: [kernel.prefix], app: 'notebook' });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  kernel?.remove();
});

test('a LiveFigure updates in place in the notebook UI while the cell runs', { skip: skipIfMissing(!CHROMIUM && 'Debian chromium not installed'), timeout: 180_000 }, async (t) => {
  const notebook = makeNotebook([
    // Once per kernel, the first figure brings plotly.js (4.7 MB) to the page; let that finish first.
    'import { displayFigure, LiveFigure } from "hpcdl";\ndisplayFigure({ data: [{ type: "bar", x: ["a", "b"], y: [1, 2] }], layout: { title: "static" } });',
    'const fig = new LiveFigure({ data: [{ type: "scatter", mode: "lines+markers", name: "loss", y: [] as number[] }], layout: { title: "live loss" } });\n' +
      `for (let i = 0; i < ${POINTS}; i++) {\n` +
      '  fig.update((f) => { (f.data[0] as any).y.push(1 / (i + 1)); });\n' +
      '  await new Promise((r) => setTimeout(r, 400));\n}',
  ]);
  notebook.metadata.kernelspec = { name: kernel.name, display_name: 'HPC DL (TypeScript)', language: 'typescript' };
  fs.writeFileSync(path.join(server.rootDir, 'live.ipynb'), JSON.stringify(notebook));

  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const foreignRequests: string[] = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(server.url) && !req.url().startsWith('data:')) foreignRequests.push(req.url());
  });
  await page.goto(`${server.url}/notebooks/live.ipynb?token=${server.token}`);
  await page.waitForFunction(() => (window as any).Jupyter?.notebook?.kernel?.is_connected?.() === true, null, { timeout: 90_000 });
  await page.evaluate(() => (window as any).Jupyter.notebook.execute_cells([0]));
  await page.waitForFunction(() => Array.from(document.querySelectorAll('.hpcdl-figure')).some((d: any) => Array.isArray(d.data) && d.querySelector('svg')), null, { timeout: 120_000 });
  await page.evaluate(() => (window as any).Jupyter.notebook.execute_cells([1]));

  // Number of points in the newest rendered figure (plotly keeps the data on the graph div).
  const observed: number[] = [];
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const points = await page.evaluate(() => {
      const cell = (window as any).Jupyter.notebook.get_cell(1).element[0] as HTMLElement;
      const drawn = (Array.from(cell.querySelectorAll('.hpcdl-figure')) as any[]).filter((d) => Array.isArray(d.data) && d.querySelector('svg'));
      return drawn.length ? drawn[drawn.length - 1].data[0].y.length : -1;
    });
    if (points >= 0 && observed[observed.length - 1] !== points) observed.push(points);
    if (points === POINTS) break;
    await page.waitForTimeout(100);
  }
  t.diagnostic(`point counts seen in the browser: ${observed.join(' → ')}`);
  assert.equal(observed[observed.length - 1], POINTS, `final figure reached the browser (seen ${observed})`);
  const intermediate = observed.filter((n) => n > 0 && n < POINTS);
  assert.ok(intermediate.length >= 2, `the plot changed while the cell ran (seen ${observed})`);
  assert.ok(observed.every((n, i) => i === 0 || n > observed[i - 1]), 'updates arrive in order');
  assert.deepEqual(foreignRequests, [], 'no CDN or other external request');

  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const shot = path.join(ARTIFACTS, 'kernel-live-figure.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  assert.ok(fs.statSync(shot).size > 10_000);
});
