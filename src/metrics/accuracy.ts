import { LabelsInput, ScoresInput, WeightsInput, checkInputs, weightAt } from './inputs';

/**
 * Σ w·[label == (score > threshold)] / Σ w. With the default threshold 0.5
 * this is the seed's `tf.metrics.accuracy(labels, round(p), weights)` (TF
 * rounds half to even, so a score of exactly 0.5 predicts 0). NaN when the
 * weights sum to 0.
 */
export function weightedAccuracy(
  labels: LabelsInput,
  scores: ScoresInput,
  weights?: WeightsInput | null,
  threshold = 0.5,
): number {
  const input = checkInputs('weightedAccuracy', labels, scores, weights);
  let correct = 0;
  let total = 0;
  for (let i = 0; i < input.length; i++) {
    const w = weightAt(input.weights, i);
    const predicted = input.scores[i] > threshold ? 1 : 0;
    if (predicted === input.labels[i]) correct += w;
    total += w;
  }
  return total > 0 ? correct / total : NaN;
}
