/**
 * Every notebook in notebooks/ executed top to bottom on a real Debian
 * jupyter-server with the installed hpcdl kernel, in quick mode on the
 * embedded default config; the executed notebooks are saved under
 * test-artifacts/notebooks/ and their saved outputs checked.
 * Needs a build (npm run build) first.
 *
 *   node --import tsx --test test/notebooks/notebooks.test.ts
 *   HPCDL_NOTEBOOKS=parallel_basics node --import tsx --test test/notebooks/notebooks.test.ts   (one notebook)
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  installTestKernel,
  notebookOutputs,
  readSavedNotebook,
  REPO_ROOT,
  startJupyterServer,
  tempDir,
  type JupyterServer,
  type Notebook,
  type NotebookOutput,
  type TestKernel,
} from '../support/jupyter';
import { textOf, copyNotebookTree, displayTexts, plotlyFigures, runNotebook, streamText, type PlotlyFigureJson } from './support';
import { queryGpus } from '../../cluster/engine/resources';

const ARTIFACTS = path.join(REPO_ROOT, 'test-artifacts', 'notebooks');
/** Test AUC the quick-mode driver notebook must reach (see the measurement where it is checked). */
const TRAINED_AUC_FLOOR = 0.75;
const only = (process.env.HPCDL_NOTEBOOKS ?? '').split(',').filter(Boolean);
const wanted = (name: string) => only.length === 0 || only.some((o) => name.includes(o));

interface Executed {
  notebook: Notebook;
  outputs: { cell: number; output: NotebookOutput }[];
  stdout: string;
  figures: PlotlyFigureJson[];
}

describe('notebooks run top to bottom in jupyter-server (quick mode)', { timeout: 600_000 }, () => {
  let kernel: TestKernel;
  let server: JupyterServer;
  let hpcdlHome: string;
  const savedEnv = { ...process.env };

  before(async () => {
    hpcdlHome = tempDir('hpcdl-nbhome-');
    // The server passes its environment on to the kernels it starts.
    process.env.HPCDL_NOTEBOOK_QUICK = '1';
    process.env.HPCDL_HOME = hpcdlHome;
    delete process.env.HPCDL_CONFIG;
    delete process.env.HPCDL_DATA;
    delete process.env.HPCDL_NOTEBOOK_DIR;
    delete process.env.HPCDL_NOTEBOOK_ENGINES;
    kernel = installTestKernel('hpcdl-nbtest');
    server = await startJupyterServer({ kernelPrefixes: [kernel.prefix] });
    copyNotebookTree(server.rootDir);
    fs.mkdirSync(ARTIFACTS, { recursive: true });
  });

  after(async () => {
    await server?.stop();
    kernel?.remove();
    if (hpcdlHome) fs.rmSync(hpcdlHome, { recursive: true, force: true });
    process.env = savedEnv;
  });

  async function run(relPath: string): Promise<Executed> {
    const result = await runNotebook(server, relPath, { kernelName: kernel.name, cellTimeoutMs: 240_000 });
    const notebook = readSavedNotebook(server, result.savedPath);
    const artifact = path.join(ARTIFACTS, relPath);
    fs.mkdirSync(path.dirname(artifact), { recursive: true });
    fs.writeFileSync(artifact, JSON.stringify(notebook, null, 1));
    const outputs = notebookOutputs(notebook);
    const errors = outputs.filter((o) => o.output.output_type === 'error');
    const stderr = outputs.filter((o) => o.output.output_type === 'stream' && o.output.name === 'stderr').map((o) => textOf((o.output as { text: unknown }).text)).join('');
    assert.deepEqual(
      result.failedCells,
      [],
      `${relPath}: cells ${result.failedCells.join(', ')} failed (saved as ${artifact}):\n${JSON.stringify(errors.map((e) => e.output), null, 1).slice(0, 3000)}\nstderr:\n${stderr.slice(0, 3000)}`,
    );
    assert.deepEqual(errors, [], `${relPath}: error outputs`);
    const codeCells = notebook.cells.filter((c) => c.cell_type === 'code');
    assert.ok(codeCells.every((c) => typeof c.execution_count === 'number'), `${relPath}: every code cell has run`);
    // TypeScript diagnostics of a cell arrive on stderr; a clean notebook has none.
    assert.doesNotMatch(stderr, /error TS|\d+:\d+ - /, `${relPath}: type errors on stderr:\n${stderr.slice(0, 2000)}`);
    return { notebook, outputs, stdout: streamText(outputs, 'stdout'), figures: plotlyFigures(outputs) };
  }

  test('hep_classifier_train.ipynb: config, data, network, live training curves, test metrics, ROC with the cut point', { skip: !wanted('hep_classifier_train') }, async () => {
    const nb = await run('hep_classifier_train.ipynb');
    assert.match(nb.stdout, /config: .*local_small\.json \(quick mode\)/);
    assert.match(nb.stdout, /data: (synthesising 1000 events|using )/);
    const steps = Number(/trained (\d+) steps in [\d.]+ s/.exec(nb.stdout)?.[1]);
    assert.ok(steps >= 40 && steps <= 60, `quick mode: 800 training events, batch 64, 4 epochs: ${steps} steps`);
    const auc = Number(/test AUC \(weighted\): ([\d.]+)/.exec(nb.stdout)?.[1]);
    // Measured in quick mode on the physics-motivated generator (2026-12-05): 0.833 after the 4
    // epochs, 0.666 after 2 (an under-trained model fails). On the earlier generator the network
    // untrained scored 0.34-0.64 and with learning rate 0 0.690 on these 100 test events.
    assert.ok(auc >= TRAINED_AUC_FLOOR && auc <= 1, `test AUC ${auc} below ${TRAINED_AUC_FLOOR}: the notebook's training did not learn`);
    assert.match(nb.stdout, /standard cuts: background efficiency [\d.e-]+, signal efficiency [\d.e-]+/);
    assert.match(nb.stdout, /CNN signal efficiency at background efficiency [\d.e-]+: [\d.e-]+/);

    const curves = nb.figures.find((f) => /training/.test(titleOf(f)));
    assert.ok(curves, `a training-curves figure; figures: ${nb.figures.map(titleOf).join(' | ')}`);
    const trainLoss = curves.data.find((t) => t.name === 'rank 0' && t.yaxis === 'y');
    assert.ok(trainLoss, 'train loss trace of rank 0');
    assert.equal(trainLoss.x.length, steps, 'the saved figure holds the final state: one loss point per step');
    const validation = curves.data.filter((t) => /validation/.test(String(t.name)));
    assert.equal(validation.length, 3, 'validation loss, accuracy and AUC traces');
    for (const t of validation) assert.equal(t.x.length, 4, 'one validation point per epoch (quick mode: 4)');

    const rocs = nb.figures.filter((f) => /^ROC/.test(titleOf(f)));
    assert.equal(rocs.length, 2, 'full and zoomed ROC figures');
    const names = rocs[0].data.map((t) => String(t.name));
    assert.ok(names.some((n) => /AUC\s*=?\s*[\d.]+/.test(n)), `ROC trace with the AUC in its legend: ${names.join(', ')}`);
    assert.ok(names.some((n) => /cut/i.test(n)), `standard-cuts point: ${names.join(', ')}`);
    const layerTable = displayTexts(nb.outputs).find((t) => /conv0/.test(t));
    assert.ok(layerTable, 'layer table of the network');
  });

  test('networks/binary_classifier.ipynb: layers, parameters per layer, forward pass, the quirks', { skip: !wanted('binary_classifier') }, async () => {
    const nb = await run('networks/binary_classifier.ipynb');
    const tables = displayTexts(nb.outputs);
    const layers = tables.find((t) => /output shape and parameters per layer/.test(t));
    assert.ok(layers, 'layer table');
    assert.match(layers, /conv0\s+\[64, 64, 16\]\s+448/, 'conv0 of local_small: 3x3x3x16 + 16 parameters');
    assert.match(layers, /total\s+70818/, 'total parameter count of local_small');
    assert.match(nb.stdout, /input \[4, 64, 64, 3\] → output \[4, 2\]/);
    assert.equal((nb.stdout.match(/sum 1\.0000/g) ?? []).length, 4, 'softmax rows sum to 1');
    assert.match(nb.stdout, /dropout_p 1\.0 \(keep all\): max \|training - eval\| logit difference 0\.00e\+0/);
    assert.doesNotMatch(nb.stdout, /dropout_p 0\.5 \(keep half\): max \|training - eval\| logit difference 0\.00e\+0/);
    const bn = tables.find((t) => /normalisation variables/.test(t));
    assert.ok(bn && /bn0\/mean\s+\[64, 64, 16\]\s+65536/.test(bn), `per-element BN variables:\n${bn}`);
  });

  test('parallel_basics.ipynb: engines, all-engine run, live LR scan, [stdout:N] streaming, cancel, close', { skip: !wanted('parallel_basics') }, async () => {
    const nb = await run('parallel_basics.ipynb');
    assert.match(nb.stdout, /cluster \S+ at ws:\/\/127\.0\.0\.1:\d+\S*: engines \d+, \d+/);
    const engineLines = nb.stdout.match(/engine \d+: host \S+, pid \d+, node v\d+/g) ?? [];
    assert.equal(engineLines.length, 2, 'one line per engine');
    assert.notEqual(/pid (\d+)/.exec(engineLines[0])![1], /pid (\d+)/.exec(engineLines[1])![1], 'two engine processes');
    assert.match(nb.stdout, /\[stdout:\d+\] trial \d: learning rate/, 'task stdout streamed with [stdout:N]');
    assert.match(nb.stdout, /best: learning rate [\d.e-]+ \(trial \d/);
    assert.match(nb.stdout, /cancelled: true; task \S+ was cancelled/);
    assert.match(nb.stdout, /cluster closed/);

    const scan = nb.figures.find((f) => titleOf(f) === 'learning-rate scan');
    assert.ok(scan, 'scan figure');
    const trialCurves = scan.data.filter((t) => t.yaxis === 'y' && !/validation/.test(String(t.name)));
    assert.deepEqual(trialCurves.map((t) => t.name).sort(), ['lr 1e-3', 'lr 3e-3', 'lr 3e-4'], 'one loss curve per trial, learning rates written as 3e-4');
    assert.deepEqual([...new Set(scan.data.map((t) => t.yaxis))].sort(), ['y', 'y2'], 'only the metrics asked for (loss, AUC) are plotted');
    for (const t of trialCurves) {
      const lr = String(t.name).slice(3);
      const steps = Number(new RegExp(`trial \\d: lr ${lr}, engine \\d+, (\\d+) steps`).exec(nb.stdout)?.[1]);
      assert.ok(steps > 0, `result line of ${t.name}`);
      assert.equal(t.x.length, steps, `${t.name}: every step reported and drawn`);
    }
    const table = displayTexts(nb.outputs).find((t) => /learning rate/.test(t));
    assert.ok(table, 'trial table');
    assert.equal((table.match(/\bdone\b/g) ?? []).length, 3, `every trial done in the saved table:\n${table}`);
    for (const lr of ['3e-3', '1e-3', '3e-4']) assert.match(table, new RegExp(`^\\d+ +${lr} `, 'm'), `learning rate ${lr} in the table:\n${table}`);
  });

  test('hpo_search.ipynb: GP search with ASHA on 2 engines, live trial table and curves, best/worst, histogram, parallel coordinates, test ROC against the default config', { skip: !wanted('hpo_search') }, async () => {
    const nb = await run('hpo_search.ipynb');
    const summary = /study: (\d+) trials: (\d+) complete, (\d+) pruned, (\d+) failed, (\d+) failed to converge/.exec(nb.stdout);
    assert.ok(summary, `study summary line:\n${nb.stdout.slice(0, 2000)}`);
    const [total, complete, pruned, failed, diverged] = summary.slice(1).map(Number);
    assert.equal(total, 6, 'quick mode: 6 trials');
    assert.equal(complete + pruned + failed + diverged, 6, 'every trial finished');
    assert.ok(complete >= 1, 'at least one complete trial');
    assert.match(nb.stdout, /best: trial \d+, val_auc 0\.\d{4}/);
    const testLine = /test AUC: best trial \d+ ([\d.]+), default config ([\d.]+) \((\d+) test events\)/.exec(nb.stdout);
    assert.ok(testLine, 'test AUC of the best trial and of the default config');
    assert.equal(Number(testLine[3]), 100, 'quick mode: 10% of 1000 events are test events');
    assert.match(nb.stdout, /cluster closed/);

    const table = displayTexts(nb.outputs).find((t) => /^hpo_search: HEP CNN/.test(t));
    assert.ok(table, `live trial table; displays: ${displayTexts(nb.outputs).map((t) => t.split('\n')[0]).join(' | ')}`);
    const rows = table.split('\n').slice(3);
    assert.equal(rows.length, 6, `one row per trial in the saved (final) table:\n${table}`);
    for (const row of rows) assert.match(row, /\b(complete|pruned|failed|failed_to_converge)\b/, `final state in the row: ${row}`);
    const curves = nb.figures.find((f) => /^trials: val_auc per epoch/.test(titleOf(f)));
    assert.ok(curves, `live curves; figures: ${nb.figures.map(titleOf).join(' | ')}`);
    assert.equal(curves.data.length, 6, 'a curve per trial (each reported at least one epoch)');
    const bestWorst = nb.figures.find((f) => /^best and worst/.test(titleOf(f)));
    assert.ok(bestWorst && bestWorst.data.length >= 1, 'best/worst curves');
    assert.ok(nb.figures.some((f) => f.data.some((t) => t.type === 'histogram')), 'score histogram');
    assert.ok(nb.figures.some((f) => f.data.some((t) => t.type === 'parcoords')), 'parallel coordinates');
    const roc = nb.figures.find((f) => /^ROC, test split/.test(titleOf(f)));
    assert.ok(roc, 'test ROC figure');
    const names = roc.data.map((t) => String(t.name));
    assert.ok(names.some((n) => /^best trial \d+ \(AUC = [\d.]+\)/.test(n)) && names.some((n) => /^default config \(AUC = [\d.]+\)/.test(n)), `both ROC curves: ${names.join(', ')}`);
  });

  test('cluster_monitor.ipynb: live CPU, memory, GPU (or none), network per node; engines started and stopped', { skip: !wanted('cluster_monitor') }, async () => {
    const nb = await run('cluster_monitor.ipynb');
    const monitor = nb.figures.find((f) => /^cluster /.test(titleOf(f)));
    assert.ok(monitor, 'resource figure');
    const layout = monitor.layout as Record<string, any>;
    assert.deepEqual(['yaxis', 'yaxis2', 'yaxis3', 'yaxis4'].map((a) => layout[a].title.text), ['CPU %', 'memory %', 'GPU util %', 'network MB/s']);
    const cpu = monitor.data.find((t) => t.yaxis === 'y');
    assert.ok(cpu && cpu.x.length >= 5, `CPU trace with samples: ${cpu?.x.length}`);
    assert.ok(cpu.y.some((v) => typeof v === 'number' && v > 0), 'CPU use above zero while engines burn');
    assert.ok(monitor.data.some((t) => t.yaxis === 'y2') && monitor.data.some((t) => t.yaxis === 'y4'), 'memory and network traces');
    const gpuNote = (layout.annotations ?? []).map((a: { text: string }) => a.text).join(' ');
    if ((await queryGpus()).gpus.length === 0) assert.match(gpuNote, /no GPU on /, 'nodes without a GPU are shown as such');
    else assert.ok(monitor.data.some((t) => t.yaxis === 'y3'), 'a GPU node has GPU traces');
    assert.match(nb.stdout, /engines alive: \d+, \d+ \(started pid \d+\)/);
    assert.match(nb.stdout, /burned \d+ \+ \d+ s of CPU/);
    assert.match(nb.stdout, /engine \d+ on \S+: (died|unregistered)/, 'the stopped engine leaves');
    const after = /engines alive: (\d+); \d+ samples/.exec(nb.stdout);
    assert.ok(after, 'one engine left after stopping the extra one');
    assert.match(nb.stdout, /cluster closed/);
  });

  test('distributed_training.ipynb: one model on both engines, live per-rank curves and throughput/communication panel, cancel, ROC of the newest checkpoint', { skip: !wanted('distributed_training') }, async () => {
    const nb = await run('distributed_training.ipynb');
    assert.match(nb.stdout, /group 1: rank 0 on engine \d+ \(\S+\), rank 1 on engine \d+/);
    const stopped = /cancelled at global step (\d+); newest checkpoint (\S+ckpt-(\d+)\.json)/.exec(nb.stdout);
    assert.ok(stopped, `the run was cancelled:\n${nb.stdout.slice(-2000)}`);
    assert.ok(Number(stopped[1]) >= 14 && Number(stopped[3]) >= 12 && Number(stopped[3]) <= Number(stopped[1]), `cancelled after step 14 with a checkpoint: ${stopped[0]}`);
    assert.match(nb.stdout, /images\/s over 2 ranks, allreduce [\d.e+-]+ ms \([\d.]+% of the step\)/);
    assert.match(nb.stdout, new RegExp(`checkpoint of global step ${Number(stopped[3])}: \\d+ test events`));
    assert.match(nb.stdout, /test AUC \(weighted\): [\d.]+/);
    assert.match(nb.stdout, /standard cuts: background efficiency [\d.e-]+, signal efficiency [\d.e-]+/);

    const curves = nb.figures.find((f) => /^HEP CNN: 2 ranks/.test(titleOf(f)));
    assert.ok(curves, `per-rank curves; figures: ${nb.figures.map(titleOf).join(' | ')}`);
    const names = curves.data.filter((t) => t.yaxis === 'y').map((t) => String(t.name));
    for (const n of ['rank 0', 'rank 1', 'global (mean of ranks)']) assert.ok(names.includes(n), `loss curve of ${n}: ${names}`);
    const rank1 = curves.data.find((t) => t.name === 'rank 1' && t.yaxis === 'y')!;
    assert.ok(rank1.x.length >= 14, `rank 1's loss at every step: ${rank1.x.length}`);
    const panel = nb.figures.find((f) => titleOf(f) === 'throughput and communication');
    assert.ok(panel, 'throughput/communication panel');
    const axes = ['yaxis', 'yaxis2', 'yaxis3'].map((a) => (panel.layout as Record<string, any>)[a]?.title?.text);
    assert.deepEqual(axes, ['images/s', 'allreduce ms', 'communication share']);
    const roc = nb.figures.find((f) => /^ROC of the distributed training/.test(titleOf(f)));
    assert.ok(roc && roc.data.some((t) => /cut/i.test(String(t.name))), 'ROC with the standard-cuts point');
    assert.match(nb.stdout, /cluster closed/);
  });
});

function titleOf(figure: PlotlyFigureJson): string {
  const title = (figure.layout as { title?: string | { text?: string } }).title;
  return typeof title === 'string' ? title : (title?.text ?? '');
}

