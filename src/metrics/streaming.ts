import { LabelsInput, ScoresInput, WeightsInput, checkInputs, weightAt } from './inputs';
import { rocAuc } from './roc';
import { ThresholdHistogram } from './threshold-auc';

export interface StreamingResult {
  /** mean of the batch losses passed to update (NaN when none) */
  loss: number;
  /** weighted accuracy at 0.5 over everything seen */
  accuracy: number;
  /** exact weighted ROC AUC over everything seen (NaN while one class is missing) */
  auc: number;
  /** the seed's 5000-threshold AUC (TF1 tf.metrics.auc) over the same samples */
  aucThresholds: number;
  /** samples seen */
  count: number;
  /** sum of their weights */
  weightSum: number;
}

/**
 * Running loss / accuracy / AUC over batches, as the seed's streaming TF
 * metrics (which are never reset within a validation pass). Keeps every
 * label, score and weight so the AUC is exact.
 */
export class StreamingBinaryMetrics {
  private labels = new Int32Array(1024);
  private scores = new Float64Array(1024);
  private weights = new Float64Array(1024);
  private size = 0;
  private lossSum = 0;
  private lossCount = 0;
  private correctWeight = 0;
  private totalWeight = 0;
  private readonly histogram: ThresholdHistogram;

  constructor(opts: { numThresholds?: number } = {}) {
    this.histogram = new ThresholdHistogram(opts.numThresholds ?? 5000);
  }

  /** Adds one batch; `loss` is the batch's mean loss (optional). */
  update(labels: LabelsInput, scores: ScoresInput, weights?: WeightsInput | null, loss?: number): void {
    const input = checkInputs('StreamingBinaryMetrics.update', labels, scores, weights);
    if (loss !== undefined) {
      if (!Number.isFinite(loss)) throw new RangeError(`StreamingBinaryMetrics.update: loss must be finite, got ${loss}`);
      this.lossSum += loss;
      this.lossCount++;
    }
    this.reserve(this.size + input.length);
    for (let i = 0; i < input.length; i++) {
      const y = input.labels[i];
      const s = input.scores[i];
      const w = weightAt(input.weights, i);
      this.labels[this.size] = y;
      this.scores[this.size] = s;
      this.weights[this.size] = w;
      this.size++;
      if ((s > 0.5 ? 1 : 0) === y) this.correctWeight += w;
      this.totalWeight += w;
    }
    this.histogram.add(input.labels, clampToUnit(input.scores), input.weights);
  }

  result(): StreamingResult {
    const labels = this.labels.subarray(0, this.size);
    const scores = this.scores.subarray(0, this.size);
    const weights = this.weights.subarray(0, this.size);
    return {
      loss: this.lossCount > 0 ? this.lossSum / this.lossCount : NaN,
      accuracy: this.totalWeight > 0 ? this.correctWeight / this.totalWeight : NaN,
      auc: bothClassesPresent(labels, weights) ? rocAuc(labels, scores, weights) : NaN,
      aucThresholds: this.size > 0 ? this.histogram.auc() : NaN,
      count: this.size,
      weightSum: this.totalWeight,
    };
  }

  reset(): void {
    this.size = 0;
    this.lossSum = 0;
    this.lossCount = 0;
    this.correctWeight = 0;
    this.totalWeight = 0;
    this.histogram.reset();
  }

  private reserve(capacity: number): void {
    if (capacity <= this.labels.length) return;
    const grown = Math.max(capacity, this.labels.length * 2);
    this.labels = copyInto(new Int32Array(grown), this.labels, this.size);
    this.scores = copyInto(new Float64Array(grown), this.scores, this.size);
    this.weights = copyInto(new Float64Array(grown), this.weights, this.size);
  }
}

function copyInto<T extends Int32Array | Float64Array>(target: T, source: T, size: number): T {
  target.set(source.subarray(0, size));
  return target;
}

function bothClassesPresent(labels: Int32Array, weights: Float64Array): boolean {
  let pos = false;
  let neg = false;
  for (let i = 0; i < labels.length && !(pos && neg); i++) {
    if (weights[i] <= 0) continue;
    if (labels[i] === 1) pos = true;
    else neg = true;
  }
  return pos && neg;
}

/** softmax outputs can overshoot [0, 1] by rounding; the threshold grid expects [0, 1] */
function clampToUnit(scores: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: scores.length }, (_, i) => Math.min(1, Math.max(0, scores[i])));
}
