import { LabelsInput, ScoresInput, WeightsInput, checkInputs, weightAt } from './inputs';

export interface RocCurve {
  /** false-positive rate = background efficiency, non-decreasing from 0 to 1 */
  fpr: Float64Array;
  /** true-positive rate = signal efficiency, non-decreasing from 0 to 1 */
  tpr: Float64Array;
  /** decreasing; point i selects score ≥ thresholds[i]; thresholds[0] = max score + 1 */
  thresholds: Float64Array;
}

/**
 * Exact weighted ROC, point for point like scikit-learn 1.2
 * `roc_curve(y, s, sample_weight=w, drop_intermediate=False)`: one point per
 * distinct score (samples with weight 0 are dropped first), plus the origin
 * with threshold max+1. Throws when a class has no weight (the rates are
 * undefined; sklearn returns NaN there).
 */
export function rocCurve(labels: LabelsInput, scores: ScoresInput, weights?: WeightsInput | null): RocCurve {
  const input = checkInputs('rocCurve', labels, scores, weights);
  const order = sortedByScoreDescending(input.scores, input.weights, input.length);
  const tps: number[] = [0];
  const fps: number[] = [0];
  const thresholds: number[] = [];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    const w = weightAt(input.weights, i);
    if (input.labels[i] === 1) tp += w;
    else fp += w;
    const isLastOfScore = k === order.length - 1 || input.scores[order[k + 1]] !== input.scores[i];
    if (isLastOfScore) {
      tps.push(tp);
      fps.push(fp);
      thresholds.push(input.scores[i]);
    }
  }
  if (tp <= 0 || fp <= 0) {
    const missing = tp <= 0 ? 'positive (label 1)' : 'negative (label 0)';
    throw new RangeError(`rocCurve: no ${missing} samples with weight > 0; the ROC curve is undefined`);
  }
  const n = tps.length;
  const result: RocCurve = { fpr: new Float64Array(n), tpr: new Float64Array(n), thresholds: new Float64Array(n) };
  for (let j = 0; j < n; j++) {
    result.fpr[j] = fps[j] / fp;
    result.tpr[j] = tps[j] / tp;
  }
  result.thresholds[0] = thresholds[0] + 1;
  result.thresholds.set(thresholds, 1);
  return result;
}

/** Indices of the samples with weight ≠ 0, by decreasing score. */
function sortedByScoreDescending(scores: ArrayLike<number>, weights: ArrayLike<number> | undefined, n: number): Uint32Array {
  let kept = 0;
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) if (weightAt(weights, i) !== 0) order[kept++] = i;
  const used = order.subarray(0, kept);
  used.sort((a, b) => scores[b] - scores[a] || a - b);
  return used;
}

/** Area under a piecewise-linear curve (trapezoidal rule), x non-decreasing. */
export function trapezoidArea(x: ArrayLike<number>, y: ArrayLike<number>): number {
  let area = 0;
  for (let i = 1; i < x.length; i++) area += ((x[i] - x[i - 1]) * (y[i] + y[i - 1])) / 2;
  return area;
}

/**
 * Exact weighted ROC AUC; equals scikit-learn's
 * `roc_auc_score(y, s, sample_weight=w)` (ties counted as half).
 */
export function rocAuc(labels: LabelsInput, scores: ScoresInput, weights?: WeightsInput | null): number {
  const roc = rocCurve(labels, scores, weights);
  return trapezoidArea(roc.fpr, roc.tpr);
}

/** Drops the points that lie on a straight line between their neighbours (sklearn's drop_intermediate). */
export function dropCollinearPoints(roc: RocCurve): RocCurve {
  const keep: number[] = [];
  const n = roc.fpr.length;
  for (let i = 0; i < n; i++) {
    if (i === 0 || i === n - 1) {
      keep.push(i);
      continue;
    }
    const bendsFpr = roc.fpr[i + 1] - 2 * roc.fpr[i] + roc.fpr[i - 1] !== 0;
    const bendsTpr = roc.tpr[i + 1] - 2 * roc.tpr[i] + roc.tpr[i - 1] !== 0;
    if (bendsFpr || bendsTpr) keep.push(i);
  }
  return {
    fpr: Float64Array.from(keep, (i) => roc.fpr[i]),
    tpr: Float64Array.from(keep, (i) => roc.tpr[i]),
    thresholds: Float64Array.from(keep, (i) => roc.thresholds[i]),
  };
}
