import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, EventBatch } from '../data/types';
import type { TrainableModel } from '../model/types';
import { rocAuc, weightedAccuracy } from '../metrics';

/** Per-event outputs of a pass over a source with dropout off. */
export interface Predictions {
  label: Int32Array;
  /** softmax probability of class 1 (signal) */
  score: Float32Array;
  /** per-event cross-entropy */
  crossEntropy: Float32Array;
  weight: Float32Array;
  normweight: Float32Array;
  psr: Uint8Array;
}

/** Images of a batch as the model wants them (transposed when the layouts differ). */
export function batchImages(batch: EventBatch, layout: 'NCHW' | 'NHWC'): tf.Tensor4D {
  const images = tf.tensor4d(batch.images, batch.shape);
  if (batch.layout === layout) return images;
  const permutation = layout === 'NHWC' ? [0, 2, 3, 1] : [0, 3, 1, 2];
  const transposed = tf.transpose(images, permutation) as tf.Tensor4D;
  images.dispose();
  return transposed;
}

/** Run the model over one epoch of `source` (already positioned by the caller's `startEpoch`). */
export async function collectPredictions(
  model: TrainableModel,
  source: BatchSource,
  opts: { maxBatches?: number } = {},
): Promise<Predictions> {
  // per-event columns only: holding on to whole batches would keep every image in memory
  const parts: { label: Int32Array; score: Float32Array; ce: Float32Array; weight: Float32Array; normweight: Float32Array; psr: Uint8Array }[] = [];
  for (let i = 0; opts.maxBatches === undefined || opts.maxBatches <= 0 || i < opts.maxBatches; i++) {
    const batch = await source.next();
    if (!batch) break;
    const [score, ce] = tf.tidy(() => {
      const logits = model.logits(batchImages(batch, model.inputLayout), false);
      const logProb = tf.logSoftmax(logits);
      const labels = tf.oneHot(tf.tensor1d(batch.label, 'int32'), logits.shape[1]);
      const crossEntropy = tf.neg(tf.sum(tf.mul(labels, logProb), 1));
      const signal = tf.reshape(tf.exp(tf.slice(logProb, [0, 1], [-1, 1])), [-1]);
      return [signal, crossEntropy];
    });
    const [scoreData, ceData] = await Promise.all([score.data(), ce.data()]);
    score.dispose();
    ce.dispose();
    parts.push({
      label: batch.label.slice(),
      score: scoreData as Float32Array,
      ce: ceData as Float32Array,
      weight: batch.weight.slice(),
      normweight: batch.normweight.slice(),
      psr: batch.psr.slice(),
    });
    source.recycle?.(batch); // tensors disposed, columns copied
  }
  const out = emptyPredictions(parts.reduce((a, p) => a + p.label.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.label.set(p.label, offset);
    out.score.set(p.score, offset);
    out.crossEntropy.set(p.ce, offset);
    out.weight.set(p.weight, offset);
    out.normweight.set(p.normweight, offset);
    out.psr.set(p.psr, offset);
    offset += p.label.length;
  }
  return out;
}

/** Zeroed columns for `n` events. */
export function emptyPredictions(n: number): Predictions {
  return {
    label: new Int32Array(n),
    score: new Float32Array(n),
    crossEntropy: new Float32Array(n),
    weight: new Float32Array(n),
    normweight: new Float32Array(n),
    psr: new Uint8Array(n),
  };
}

export interface BinaryMetrics {
  loss: number;
  accuracy: number;
  auc: number;
  events: number;
}

/** Weighted mean cross-entropy, accuracy at 0.5 and exact ROC AUC. */
export function binaryMetrics(p: Predictions, weights: Float32Array | undefined): BinaryMetrics {
  const w = weights ?? new Float32Array(p.label.length).fill(1);
  let lossSum = 0;
  let weightSum = 0;
  for (let i = 0; i < w.length; i++) {
    lossSum += w[i] * p.crossEntropy[i];
    weightSum += w[i];
  }
  const twoClasses = p.label.some((l) => l === 1) && p.label.some((l) => l === 0);
  return {
    loss: weightSum > 0 ? lossSum / weightSum : NaN,
    accuracy: p.label.length > 0 ? weightedAccuracy(p.label, p.score, w) : NaN,
    auc: twoClasses ? rocAuc(p.label, p.score, w) : NaN,
    events: p.label.length,
  };
}
