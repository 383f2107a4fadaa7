import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { rocAuc, rocCurve, selectionEfficiencies, signalEfficiencyAt } from '../../src/metrics';
import { PlotlyFigure, figuresHtml, rocFigure, trainingCurvesFigure, writeFiguresHtml } from '../../src/plots';

const root = path.resolve(__dirname, '../..');
const artifacts = path.join(root, 'test-artifacts');

/** A toy classifier output: signal scores higher than background, a cut on a noisy copy of the score. */
function toyEvents(n: number): { labels: Int32Array; scores: Float64Array; weights: Float64Array; psr: Uint8Array } {
  let state = 42;
  const rand = () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
  const labels = new Int32Array(n);
  const scores = new Float64Array(n);
  const weights = new Float64Array(n);
  const psr = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = rand() < 0.3 ? 1 : 0;
    const s = Math.min(1, Math.max(0, 0.4 + 0.2 * labels[i] + 0.4 * (rand() - 0.5) + 0.3 * (rand() - 0.5)));
    scores[i] = s;
    weights[i] = labels[i] ? 0.01 : 1 + rand();
    psr[i] = s + 0.3 * (rand() - 0.5) > 0.65 ? 1 : 0;
  }
  return { labels, scores, weights, psr };
}

const events = toyEvents(5000);
const roc = rocCurve(events.labels, events.scores, events.weights);
const auc = rocAuc(events.labels, events.scores, events.weights);
const cut = selectionEfficiencies(events.labels, events.psr, events.weights);

test('rocFigure: curve with AUC in the legend, the standard-cuts point, the diagonal', () => {
  const fig = rocFigure(roc, { auc, cutPoint: cut });
  assert.equal(fig.data.length, 3);
  const [curve, cutTrace, diagonal] = fig.data as Array<Record<string, any>>;
  assert.equal(curve.name, `ROC curve (AUC = ${auc.toFixed(3)})`);
  assert.match(curve.name, /AUC = 0\.\d{3}\)$/);
  assert.equal(curve.x[0], 0);
  assert.equal(curve.x[curve.x.length - 1], 1);
  assert.equal(curve.y[curve.y.length - 1], 1);
  assert.ok(curve.x.length <= roc.fpr.length);
  assert.deepEqual(cutTrace.x, [cut.fpr]);
  assert.deepEqual(cutTrace.y, [cut.tpr]);
  assert.match(cutTrace.name, /^standard cuts/);
  assert.deepEqual([diagonal.x, diagonal.y], [[0, 1], [0, 1]]);
  assert.deepEqual((fig.layout.xaxis as any).range, [0, 1]);
  // the toy cut uses a noisier copy of the score, so the classifier beats it at the cut's background efficiency
  assert.ok(cut.fpr > 0 && cut.fpr < 0.5, `cut fpr ${cut.fpr}`);
  assert.ok(signalEfficiencyAt(roc, cut.fpr) > cut.tpr, `${signalEfficiencyAt(roc, cut.fpr)} vs cut ${cut.tpr}`);
  JSON.stringify(fig); // plain JSON
});

test('rocFigure zoom limits the FPR axis and the plotted points', () => {
  const fprMax = 0.05;
  const fig = rocFigure(roc, { auc, cutPoint: cut, zoom: { fprMax } });
  const curve = fig.data[0] as Record<string, any>;
  assert.deepEqual((fig.layout.xaxis as any).range, [0, fprMax]);
  const beyond = (curve.x as number[]).filter((x) => x > fprMax);
  assert.equal(beyond.length, 1, 'only the first point past the edge is kept');
  const diagonal = fig.data[2] as Record<string, any>;
  assert.deepEqual(diagonal.x, [0, fprMax]);
  assert.throws(() => rocFigure(roc, { auc, zoom: { fprMax: 0 } }), /zoom.fprMax must be in \(0, 1\], got 0/);
  assert.throws(() => rocFigure(roc, { auc: NaN }), /auc must be a finite number, got NaN/);
});

test('rocFigure thins long curves but keeps the ends and the shape', () => {
  const n = 20001;
  const fpr = Float64Array.from({ length: n }, (_, i) => i / (n - 1));
  const tpr = Float64Array.from(fpr, (x) => Math.sqrt(x));
  const fig = rocFigure({ fpr, tpr }, { auc: 2 / 3, maxPoints: 500 });
  const curve = fig.data[0] as Record<string, any>;
  assert.ok(curve.x.length < 1100, `${curve.x.length} points`);
  assert.equal(curve.x[0], 0);
  assert.equal(curve.x[curve.x.length - 1], 1);
  for (let i = 1; i < curve.x.length; i++) assert.ok(curve.x[i] - curve.x[i - 1] <= 2 / 500 + 1e-12);
});

test('trainingCurvesFigure: one subplot per metric, one colour per rank, validation dashed', () => {
  const series = [0, 1].flatMap((rank) => [
    { name: `rank ${rank}`, metric: 'loss', x: [10, 20, 30], y: [0.7, 0.6, 0.5 + rank * 0.01] },
    { name: `rank ${rank}`, metric: 'accuracy', x: [10, 20, 30], y: [0.5, 0.6, 0.7] },
  ]);
  series.push({ name: 'rank 0', metric: 'loss', split: 'validation' as const, x: [30], y: [0.55] } as any);
  const fig = trainingCurvesFigure(series, { xAxis: 'step' });
  const traces = fig.data as Array<Record<string, any>>;
  assert.equal(traces.length, 5);
  assert.deepEqual(traces.map((t) => t.yaxis), ['y', 'y2', 'y', 'y2', 'y']);
  assert.equal(traces[0].line.color, traces[1].line.color);
  assert.notEqual(traces[0].line.color, traces[2].line.color);
  assert.deepEqual(traces.map((t) => t.line.dash), ['solid', 'solid', 'solid', 'solid', 'dash']);
  assert.equal(traces[4].name, 'rank 0 (validation)');
  assert.deepEqual(traces.map((t) => t.showlegend), [true, false, true, false, true]);
  assert.equal((fig.layout.yaxis as any).title.text, 'loss');
  assert.equal((fig.layout.yaxis2 as any).title.text, 'accuracy');
  assert.equal((fig.layout.xaxis as any).title.text, 'step');
  assert.throws(() => trainingCurvesFigure([{ name: 'a', metric: 'loss', x: [1, 2], y: [1] }]), /has 2 x values but 1 y values/);
});

test('figuresHtml inlines plotly.js and escapes the figure JSON', () => {
  const fig: PlotlyFigure = { data: [{ type: 'scatter', name: '</script><b>x', x: [0, 1], y: [1, 0] }], layout: {} };
  const html = figuresHtml([fig], 'a <title>');
  assert.ok(!/<script[^>]+src=/i.test(html), 'no external script');
  const pageWithoutPlotly = html.replace(/<script>[\s\S]*?<\/script>/, '');
  assert.ok(!/https?:|<link|src=/i.test(pageWithoutPlotly), 'the page itself references nothing external');
  assert.ok(html.includes('<title>a &lt;title&gt;</title>'));
  assert.ok(html.includes('\\u003c/script>\\u003cb>x'));
  assert.equal(html.match(/<\/script>/g)?.length, 2, 'only the two real script ends');
  assert.ok(html.length > 3_000_000, 'plotly.js is inlined');
});

test('the HTML renders offline in headless Chromium: SVG plot, AUC in the legend, no requests', async (t) => {
  fs.mkdirSync(artifacts, { recursive: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  const file = path.join(dir, 'roc.html');
  writeFiguresHtml(file, [
    rocFigure(roc, { auc, cutPoint: cut }),
    rocFigure(roc, { auc, cutPoint: cut, zoom: { fprMax: 0.05 } }),
    trainingCurvesFigure([
      { name: 'rank 0', metric: 'loss', x: [1, 2, 3], y: [0.7, 0.5, 0.4] },
      { name: 'rank 0', metric: 'loss', split: 'validation', x: [1, 2, 3], y: [0.72, 0.55, 0.45] },
    ]),
  ], 'hpcdl ROC test');
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
  t.after(async () => {
    await browser.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const page = await browser.newPage({ viewport: { width: 1000, height: 1800 } });
  const pageUrl = pathToFileURL(file).href;
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.route(/^(https?|wss?|ftp):/, (route) => route.abort());
  await page.goto(pageUrl);
  await page.waitForSelector('#figure-2 svg.main-svg', { timeout: 60_000 });
  const legend = await page.locator('#figure-0 .legendtext').allTextContents();
  assert.ok(legend.some((text) => text.includes(`AUC = ${auc.toFixed(3)}`)), `legend: ${JSON.stringify(legend)}`);
  assert.ok(legend.some((text) => text.startsWith('standard cuts')), `legend: ${JSON.stringify(legend)}`);
  const curvePath = await page.locator('#figure-0 .scatterlayer .trace path.js-line').first().getAttribute('d');
  assert.ok(curvePath && curvePath.length > 100, 'the ROC curve is drawn');
  assert.equal(await page.locator('svg.main-svg').count() >= 3, true);
  assert.deepEqual(errors, []);
  assert.deepEqual(requests.filter((u) => u !== pageUrl && !u.startsWith('data:')), [], 'no requests beyond the page itself');
  await page.screenshot({ path: path.join(artifacts, 'plots-roc.png'), fullPage: true });
});
