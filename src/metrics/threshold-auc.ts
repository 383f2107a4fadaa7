import { LabelsInput, ScoresInput, WeightsInput, checkInputs, weightAt } from './inputs';

const KEPSILON = 1e-7;
const EPSILON = 1e-6;

/**
 * The threshold grid of TF1 `tf.metrics.auc(num_thresholds=n)`:
 * [-1e-7, 1/(n-1), 2/(n-1), …, (n-2)/(n-1), 1+1e-7], each rounded to float32
 * as TF stores them.
 */
export function tfAucThresholds(numThresholds = 5000): Float32Array {
  if (!Number.isInteger(numThresholds) || numThresholds < 2) {
    throw new RangeError(`tfAucThresholds: numThresholds must be an integer ≥ 2, got ${numThresholds}`);
  }
  const grid = new Float32Array(numThresholds);
  grid[0] = 0 - KEPSILON;
  for (let i = 0; i < numThresholds - 2; i++) grid[i + 1] = ((i + 1) * 1.0) / (numThresholds - 1);
  grid[numThresholds - 1] = 1 + KEPSILON;
  return grid;
}

/** Weighted confusion counts at each threshold: a sample is predicted positive when score > threshold. */
export interface ThresholdCounts {
  thresholds: Float32Array;
  tp: Float64Array;
  fp: Float64Array;
  fn: Float64Array;
  tn: Float64Array;
}

/**
 * Accumulates weighted per-bin sums so the counts at every threshold come
 * from prefix sums (O(N log T + T) instead of the seed's O(N·T)).
 */
export class ThresholdHistogram {
  readonly thresholds: Float32Array;
  /** weight of positives / negatives whose score exceeds exactly `k` thresholds */
  private readonly posAbove: Float64Array;
  private readonly negAbove: Float64Array;

  constructor(numThresholds = 5000) {
    this.thresholds = tfAucThresholds(numThresholds);
    this.posAbove = new Float64Array(numThresholds + 1);
    this.negAbove = new Float64Array(numThresholds + 1);
  }

  add(labels: ArrayLike<number>, scores: ArrayLike<number>, weights?: ArrayLike<number>): void {
    for (let i = 0; i < labels.length; i++) {
      const exceeded = this.countThresholdsBelow(Math.fround(scores[i]));
      const w = weightAt(weights, i);
      if (labels[i] === 1) this.posAbove[exceeded] += w;
      else this.negAbove[exceeded] += w;
    }
  }

  reset(): void {
    this.posAbove.fill(0);
    this.negAbove.fill(0);
  }

  /** number of thresholds t with score > t (thresholds are sorted ascending) */
  private countThresholdsBelow(score: number): number {
    let lo = 0;
    let hi = this.thresholds.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (score > this.thresholds[mid]) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  counts(): ThresholdCounts {
    const n = this.thresholds.length;
    const result: ThresholdCounts = {
      thresholds: this.thresholds,
      tp: new Float64Array(n),
      fp: new Float64Array(n),
      fn: new Float64Array(n),
      tn: new Float64Array(n),
    };
    // tp[j] = weight of positives exceeding more than j thresholds
    let posExceeding = 0;
    let negExceeding = 0;
    for (let j = n - 1; j >= 0; j--) {
      posExceeding += this.posAbove[j + 1];
      negExceeding += this.negAbove[j + 1];
      result.tp[j] = posExceeding;
      result.fp[j] = negExceeding;
    }
    const posTotal = posExceeding + this.posAbove[0];
    const negTotal = negExceeding + this.negAbove[0];
    for (let j = 0; j < n; j++) {
      result.fn[j] = posTotal - result.tp[j];
      result.tn[j] = negTotal - result.fp[j];
    }
    return result;
  }

  /** TF1's trapezoidal ROC AUC over the grid, with its 1e-6 epsilons. */
  auc(): number {
    return aucFromCounts(this.counts());
  }
}

export function aucFromCounts(c: ThresholdCounts): number {
  const n = c.thresholds.length;
  const x = new Float64Array(n);
  const y = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    y[j] = (c.tp[j] + EPSILON) / (c.tp[j] + c.fn[j] + EPSILON);
    x[j] = c.fp[j] / (c.fp[j] + c.tn[j] + EPSILON);
  }
  let area = 0;
  for (let j = 0; j < n - 1; j++) area += (x[j] - x[j + 1]) * ((y[j] + y[j + 1]) / 2);
  return area;
}

/**
 * The seed's AUC: TF1 `tf.metrics.auc(labels, scores, weights,
 * num_thresholds=5000, curve='ROC')` (trapezoidal), computed in float64 on
 * the float32 threshold grid. Scores must lie in [0, 1] as TF asserts.
 */
export function rocAucThresholds(
  labels: LabelsInput,
  scores: ScoresInput,
  weights?: WeightsInput | null,
  numThresholds = 5000,
): number {
  const input = checkInputs('rocAucThresholds', labels, scores, weights);
  for (let i = 0; i < input.length; i++) {
    if (input.scores[i] < 0 || input.scores[i] > 1) {
      throw new RangeError(`rocAucThresholds: scores must be in [0, 1], got ${input.scores[i]} at index ${i}`);
    }
  }
  const histogram = new ThresholdHistogram(numThresholds);
  histogram.add(input.labels, input.scores, input.weights);
  return histogram.auc();
}
