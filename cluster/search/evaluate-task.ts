/**
 * Task module: re-evaluates a trial's checkpoint on the test split with
 * `infer()` (test loss, accuracy, AUC, the ROC report and the standard-cuts
 * point), and sends back the ROC curve thinned for plotting.
 */
import * as fs from 'node:fs';
import type { HepConfig } from '../../src/config/types';
import { rocCurve } from '../../src/metrics';
import { infer, type InferResult } from '../../src/train';

export interface EvaluateRequest {
  config: HepConfig;
  checkpoint: string;
  outputDir: string;
  inputPath?: string;
  maxSteps?: number;
}

/** infer()'s result plus the weighted ROC curve, at most ~2,000 points */
export type Evaluation = InferResult & { roc: { fpr: number[]; tpr: number[] } };

/** ROC plots need ~1/1000 resolution; the full curve has one point per event. */
const ROC_POINTS = 2000;

export async function evaluateCheckpoint(req: EvaluateRequest): Promise<Evaluation> {
  const result = await infer({
    config: req.config,
    checkpoint: req.checkpoint,
    outputDir: req.outputDir,
    inputPath: req.inputPath,
    maxSteps: req.maxSteps,
    predictionsFormat: 'csv',
    log: (line) => console.log(line),
  });
  const { label, score, weight } = readPredictions(result.predictionsPath);
  const roc = rocCurve(label, score, weight);
  return { ...result, roc: thin(roc.fpr, roc.tpr, ROC_POINTS) };
}

function readPredictions(file: string): { label: Int32Array; score: Float64Array; weight: Float64Array } {
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').slice(1);
  const label = new Int32Array(lines.length);
  const score = new Float64Array(lines.length);
  const weight = new Float64Array(lines.length);
  lines.forEach((line, i) => {
    const [l, s, w] = line.split(',');
    label[i] = Number(l);
    score[i] = Number(s);
    weight[i] = Number(w);
  });
  return { label, score, weight };
}

function thin(fpr: ArrayLike<number>, tpr: ArrayLike<number>, points: number): { fpr: number[]; tpr: number[] } {
  const stride = Math.max(1, Math.floor(fpr.length / points));
  const x: number[] = [];
  const y: number[] = [];
  for (let i = 0; i < fpr.length; i += stride) {
    x.push(fpr[i]);
    y.push(tpr[i]);
  }
  if (x[x.length - 1] !== fpr[fpr.length - 1]) {
    x.push(fpr[fpr.length - 1]);
    y.push(tpr[tpr.length - 1]);
  }
  return { fpr: x, tpr: y };
}
