/**
 * The live training plot in a real browser: Debian's classic notebook UI
 * (nbclassic on 127.0.0.1 with a token) in headless Chromium driven by
 * playwright-core. Opens hep_classifier_train.ipynb on the hpcdl kernel,
 * runs it from the Cell menu, and samples the training-curves figure while
 * the training cell runs: the number of points drawn in its SVG line paths
 * must grow between two samples taken during execution. Screenshots:
 * test-artifacts/live-plot.png (mid-training) and live-plot-final.png.
 * Needs a build (npm run build) first.
 *
 *   node --import tsx --test test/notebooks/browser.test.ts
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { installTestKernel, REPO_ROOT, sleep, startJupyterServer, tempDir, type JupyterServer, type TestKernel } from '../support/jupyter';
import { copyNotebookTree } from './support';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync'];
const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts');
const NOTEBOOK = 'hep_classifier_train.ipynb';

interface PlotSample {
  atMs: number;
  /** points drawn in the line paths of the training-curves figure (0 before it exists) */
  points: number;
  /** the training cell shows In [*] */
  trainingCellRunning: boolean;
  trainingCellDone: boolean;
}

/** Runs in the page: what the training figure and its cell look like now. */
function samplePage(): Omit<PlotSample, 'atMs'> {
  const cells = Array.from(document.querySelectorAll('.cell.code_cell'));
  const cell = cells.find((c) => (c.querySelector('.input_area')?.textContent ?? '').includes('trainLoop('));
  let points = 0;
  for (const figure of Array.from(cell?.querySelectorAll('.hpcdl-figure') ?? [])) {
    for (const line of Array.from(figure.querySelectorAll('.scatterlayer path.js-line'))) {
      const d = line.getAttribute('d') ?? '';
      points += (d.match(/[ML]/g) ?? []).length;
    }
  }
  const prompt = cell?.querySelector('.input_prompt')?.textContent ?? '';
  return {
    points,
    trainingCellRunning: !!cell && (cell.classList.contains('running') || prompt.includes('*')),
    trainingCellDone: /\[\d+\]/.test(prompt),
  };
}

describe('live plot in the classic notebook UI (headless Chromium)', { timeout: 420_000 }, () => {
  let kernel: TestKernel;
  let server: JupyterServer;
  let browser: Browser;
  let hpcdlHome: string;
  const savedEnv = { ...process.env };

  before(async () => {
    assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} missing (Debian package chromium)`);
    hpcdlHome = tempDir('hpcdl-brhome-');
    process.env.HPCDL_NOTEBOOK_QUICK = '1';
    process.env.HPCDL_HOME = hpcdlHome;
    delete process.env.HPCDL_CONFIG;
    delete process.env.HPCDL_DATA;
    delete process.env.HPCDL_NOTEBOOK_DIR;
    // Installed under the name the notebooks' metadata asks for, in a private prefix.
    kernel = installTestKernel('hpcdl');
    server = await startJupyterServer({ kernelPrefixes: [kernel.prefix], app: 'notebook' });
    copyNotebookTree(server.rootDir);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    kernel?.remove();
    if (hpcdlHome) fs.rmSync(hpcdlHome, { recursive: true, force: true });
    process.env = savedEnv;
  });

  test('the training-curves figure grows while the training cell runs', async () => {
    const page: Page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    await page.goto(`${server.url}/notebooks/${NOTEBOOK}?token=${server.token}`);
    await page.waitForFunction(() => (window as any).Jupyter?.notebook?.kernel?.is_connected?.() === true, undefined, { timeout: 90_000 });
    // Select the kernel from the Kernel menu, as a user would (Kernel > Change kernel > HPC DL (TypeScript)).
    // The notebook's metadata already names it, so the UI keeps the running hpcdl kernel.
    await page.click('#kernellink');
    await page.hover('#menu-change-kernel');
    const item = page.locator('#kernel-submenu-hpcdl');
    assert.match((await item.textContent()) ?? '', /HPC DL \(TypeScript\)/);
    await item.click();
    await page.waitForFunction(() => {
      const k = (window as any).Jupyter?.notebook?.kernel;
      return k?.name === 'hpcdl' && k.is_connected?.() === true;
    }, undefined, { timeout: 90_000 });
    const kernelName = await page.evaluate(() => (window as any).Jupyter.notebook.kernel.name as string);
    assert.equal(kernelName, 'hpcdl', 'the notebook runs on the hpcdl kernel');
    await page.waitForFunction(() => /HPC DL/.test(document.querySelector('.kernel_indicator_name')?.textContent ?? ''), undefined, { timeout: 30_000 });

    // Cell > Run All, as a user would.
    await page.click('#celllink');
    await page.click('#run_all_cells');

    const started = Date.now();
    const samples: PlotSample[] = [];
    let midRunShot = false;
    while (Date.now() - started < 300_000) {
      const sample = { atMs: Date.now() - started, ...(await page.evaluate(samplePage)) };
      samples.push(sample);
      const growing = samples.filter((s) => s.trainingCellRunning && s.points > 0);
      if (!midRunShot && growing.length >= 2 && growing[growing.length - 1].points > growing[0].points) {
        await scrollToTrainingFigure(page);
        await page.screenshot({ path: path.join(ARTIFACTS, 'live-plot.png') });
        midRunShot = true;
      }
      if (sample.trainingCellDone) break;
      await sleep(400);
    }
    const during = samples.filter((s) => s.trainingCellRunning && s.points > 0);
    const summary = samples.map((s) => `${(s.atMs / 1000).toFixed(1)}s:${s.points}${s.trainingCellRunning ? '*' : ''}`).join(' ');
    assert.ok(samples[samples.length - 1].trainingCellDone, `the training cell finished within 300 s: ${summary}`);
    assert.ok(during.length >= 2, `at least two samples of the plot while training ran: ${summary}`);
    const first = during[0];
    const later = during.find((s) => s.points > first.points);
    assert.ok(later, `the plot grew while the cell ran (points ${first.points} at ${first.atMs} ms, never more before the cell finished): ${summary}`);
    assert.ok(midRunShot, 'screenshot taken mid-training');
    await sleep(1000);
    const final = await page.evaluate(samplePage);
    // 24 steps of loss (one path) and 2 points for each of the 3 validation curves.
    assert.ok(final.points >= later.points, `final figure has at least the points seen while running (${final.points})`);
    await scrollToTrainingFigure(page);
    await page.screenshot({ path: path.join(ARTIFACTS, 'live-plot-final.png') });
    assert.deepEqual(pageErrors, [], 'no JavaScript errors in the page');
    await page.close();
  });
});

async function scrollToTrainingFigure(page: Page): Promise<void> {
  await page.evaluate(() => {
    const cells = Array.from(document.querySelectorAll('.cell.code_cell'));
    const cell = cells.find((c) => (c.querySelector('.input_area')?.textContent ?? '').includes('trainLoop('));
    (cell?.querySelector('.hpcdl-figure') ?? cell)?.scrollIntoView({ block: 'start' });
  });
}
