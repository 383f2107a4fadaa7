import * as fs from 'node:fs';
import * as path from 'node:path';
import type { HepConfig } from '../config/types';
import { openEventSource, writeArrays } from '../data';
import { buildHepCnn } from '../model';
import { initBackend } from '../backend';
import { rocCurve, selectionEfficiencies, signalEfficiencyAt } from '../metrics';
import { rocFigure, writeFiguresHtml } from '../plots';
import { loadCheckpoint, namedVariablesOf, resolveCheckpoint } from './checkpoint';
import { binaryMetrics, collectPredictions, type BinaryMetrics, type Predictions } from './evaluate';
import { formatF, formatG, timestamp } from './format';
import { chwShape, resolveConfig } from './train';

export interface InferOptions {
  config?: HepConfig;
  configPath?: string;
  /** a `ckpt-<step>.json` manifest, or a directory (its newest manifest; `<dir>/models` is searched too) */
  checkpoint: string;
  /** where predictions and plots go (default: the run directory the checkpoint is in) */
  outputDir?: string;
  /** overrides `inputpath` */
  inputPath?: string;
  dummyData?: boolean;
  /** `csv` (default) or `h5` */
  predictionsFormat?: 'csv' | 'h5';
  /** overrides `test_max_steps` (≤ 0 = the whole test split) */
  maxSteps?: number;
  backend?: string;
  log?: (line: string) => void;
}

export interface CutComparison {
  /** background and signal efficiency of the standard cuts (`psr`) */
  cut: { fpr: number; tpr: number };
  /** signal efficiency of the classifier at the cut's background efficiency */
  classifierTpr: number;
}

export interface InferResult {
  checkpoint: string;
  step: number;
  events: number;
  /** metrics weighted by the physics `weight` (as the seed's ROC plots) */
  weighted: BinaryMetrics;
  unweighted: BinaryMetrics;
  /** absent when no test event passes the cuts or one class has no weight */
  cutComparison?: CutComparison;
  predictionsPath: string;
  reportPath: string;
}

/** Evaluate a checkpoint on the test split: the library form of `hpcdl infer`. */
export async function infer(opts: InferOptions): Promise<InferResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const config = resolveConfig({ ...opts, epochs: undefined });
  const manifestPath = resolveCheckpoint(opts.checkpoint);
  await initBackend({ force: opts.backend, log });
  const model = buildHepCnn(config, { seed: config.seed ?? 12345 });
  const source = await openEventSource({
    inputPath: config.inputpath,
    split: 'test',
    batchSize: config.test_batch_size ?? config.validation_batch_size,
    layout: config.conv_params.data_format,
    shuffle: false,
    dropRemainder: false,
    dummy: opts.dummyData ?? false,
    imageShape: chwShape(config),
    log,
  });
  try {
    const { manifest } = await loadCheckpoint(manifestPath, namedVariablesOf(model));
    log(`Restoring model ${manifestPath} (global step ${manifest.step})`);
    source.startEpoch(0);
    const predictions = await collectPredictions(model, source, { maxBatches: opts.maxSteps ?? config.test_max_steps });
    if (predictions.label.length === 0) throw new Error(`${config.inputpath}: the test split has no events`);
    const weighted = binaryMetrics(predictions, predictions.weight);
    const unweighted = binaryMetrics(predictions, undefined);
    // the seed v2d's three lines (weighted by `weight`), then hpcdl's
    const ts = timestamp();
    log(`${ts} EVALUATION SUMMARY: average loss ${formatF(weighted.loss, 6)}`);
    log(`${ts} EVALUATION SUMMARY: average accu ${formatF(weighted.accuracy, 6)}`);
    log(`${ts} EVALUATION SUMMARY: average auc ${formatF(weighted.auc, 6)}`);
    log(`EVALUATION SUMMARY: test events ${predictions.label.length}`);
    log(`EVALUATION SUMMARY: unweighted test loss ${formatG(unweighted.loss)}, accu ${formatG(unweighted.accuracy)}, auc ${formatG(unweighted.auc)}`);

    const outputDir = opts.outputDir ?? defaultOutputDir(manifestPath);
    fs.mkdirSync(path.join(outputDir, 'plots'), { recursive: true });
    const predictionsPath = await writePredictions(predictions, outputDir, opts.predictionsFormat ?? 'csv');
    log(`Predictions (${predictions.label.length} events): ${predictionsPath}`);

    const roc = rocCurve(predictions.label, predictions.score, predictions.weight);
    const cutComparison = compareWithCuts(predictions, roc);
    if (cutComparison) {
      const { cut, classifierTpr } = cutComparison;
      log(`Standard cuts: background efficiency ${formatG(cut.fpr)}, signal efficiency ${formatG(cut.tpr)}`);
      log(`CNN at background efficiency ${formatG(cut.fpr)}: signal efficiency ${formatG(classifierTpr)} (standard cuts: ${formatG(cut.tpr)})`);
    } else {
      log('Standard cuts: no comparison (no test event passes the cuts, or a class has no weight)');
    }
    const reportPath = path.join(outputDir, 'plots', 'roc.html');
    const cutPoint = cutComparison?.cut;
    const zoomFpr = cutPoint ? Math.min(1, Math.max(4e-4, 3 * cutPoint.fpr)) : 0.05;
    writeFiguresHtml(
      reportPath,
      [
        rocFigure(roc, { auc: weighted.auc, cutPoint, title: `ROC, test split (${predictions.label.length} events)` }),
        rocFigure(roc, { auc: weighted.auc, cutPoint, zoom: { fprMax: zoomFpr }, title: `ROC, zoomed to background efficiency ≤ ${formatG(zoomFpr, 2)}` }),
      ],
      `hpcdl ROC — ${path.basename(manifestPath)}`,
    );
    log(`ROC report: ${reportPath}`);
    return {
      checkpoint: manifestPath,
      step: manifest.step,
      events: predictions.label.length,
      weighted,
      unweighted,
      cutComparison,
      predictionsPath,
      reportPath,
    };
  } finally {
    await source.close();
    model.dispose();
  }
}

/** `<run>/models/ckpt-N.json` → `<run>`; a manifest elsewhere → its directory. */
function defaultOutputDir(manifestPath: string): string {
  const dir = path.dirname(path.resolve(manifestPath));
  return path.basename(dir) === 'models' ? path.dirname(dir) : dir;
}

function compareWithCuts(p: Predictions, roc: ReturnType<typeof rocCurve>): CutComparison | undefined {
  if (!p.psr.some((x) => x === 1)) return undefined;
  let cut: { fpr: number; tpr: number };
  try {
    cut = selectionEfficiencies(p.label, p.psr, p.weight);
  } catch {
    return undefined;
  }
  return { cut, classifierTpr: signalEfficiencyAt(roc, cut.fpr) };
}

async function writePredictions(p: Predictions, outputDir: string, format: 'csv' | 'h5'): Promise<string> {
  if (format === 'h5') {
    const file = path.join(outputDir, 'predictions.h5');
    await writeArrays(file, {
      label: { data: p.label, shape: [p.label.length] },
      score: { data: p.score, shape: [p.score.length] },
      weight: { data: p.weight, shape: [p.weight.length] },
      psr: { data: p.psr, shape: [p.psr.length] },
    });
    return file;
  }
  const file = path.join(outputDir, 'predictions.csv');
  const lines = ['label,score,weight,psr'];
  for (let i = 0; i < p.label.length; i++) lines.push(`${p.label[i]},${p.score[i]},${p.weight[i]},${p.psr[i]}`);
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return file;
}
