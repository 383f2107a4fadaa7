export type LabelsInput = Int32Array | Uint8Array | number[];
export type ScoresInput = Float32Array | Float64Array | number[];
export type WeightsInput = Float32Array | Float64Array | number[];

/** Labels, scores and weights after checking: same length, labels 0/1, finite scores and weights. */
export interface BinaryInputs {
  labels: ArrayLike<number>;
  scores: ArrayLike<number>;
  /** undefined = every weight is 1 */
  weights?: ArrayLike<number>;
  length: number;
}

export function checkInputs(
  fn: string,
  labels: LabelsInput,
  scores: ScoresInput,
  weights?: WeightsInput | null,
): BinaryInputs {
  const length = labels.length;
  if (scores.length !== length) throw new RangeError(`${fn}: ${length} labels but ${scores.length} scores`);
  if (weights && weights.length !== length) throw new RangeError(`${fn}: ${length} labels but ${weights.length} weights`);
  for (let i = 0; i < length; i++) {
    const y = labels[i];
    if (y !== 0 && y !== 1) throw new RangeError(`${fn}: labels must be 0 or 1, got ${y} at index ${i}`);
    if (!Number.isFinite(scores[i])) throw new RangeError(`${fn}: scores must be finite, got ${scores[i]} at index ${i}`);
    if (weights && !(Number.isFinite(weights[i]) && weights[i] >= 0)) {
      throw new RangeError(`${fn}: weights must be finite and ≥ 0, got ${weights[i]} at index ${i}`);
    }
  }
  return { labels, scores, weights: weights ?? undefined, length };
}

export function weightAt(weights: ArrayLike<number> | undefined, i: number): number {
  return weights ? weights[i] : 1;
}
