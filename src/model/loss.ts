import * as tf from '@tensorflow/tfjs-core';

/**
 * Weighted sparse softmax cross-entropy, reduced as TF 1.x
 * `tf.losses.sparse_softmax_cross_entropy(labels, logits, weights)` does by default
 * (`SUM_BY_NONZERO_WEIGHTS`): sum_i w_i * CE_i / #{i : w_i != 0}; 0 when every weight is 0.
 * With all weights 1 (the seed's training setting) this is the plain mean.
 */
export function weightedSoftmaxCrossEntropy(
  logits: tf.Tensor2D,
  labels: tf.Tensor1D,
  weights: tf.Tensor1D,
): tf.Scalar {
  const [batch, classes] = logits.shape;
  if (labels.shape[0] !== batch || weights.shape[0] !== batch) {
    throw new Error(
      `weightedSoftmaxCrossEntropy: logits [${logits.shape}], labels [${labels.shape}] and weights [${weights.shape}] must share the batch size`,
    );
  }
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(labels, 'int32'), classes);
    const perExample = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1));
    const w = tf.cast(weights, 'float32');
    const total = tf.sum(tf.mul(perExample, w));
    const nonZero = tf.sum(tf.cast(tf.notEqual(w, 0), 'float32'));
    // all weights zero → total is 0, and max(count, 1) keeps the result 0 (not NaN)
    return tf.div(total, tf.maximum(nonZero, 1)) as tf.Scalar;
  });
}

/**
 * sum_i w_i * CE_i (no normalisation): the per-shard quantity whose gradients data-parallel
 * workers add up before dividing by the batch's non-zero weight count.
 */
export function weightedCrossEntropySum(logits: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const [, classes] = logits.shape;
  return tf.tidy(() => {
    const oneHot = tf.oneHot(tf.cast(labels, 'int32'), classes);
    const perExample = tf.neg(tf.sum(tf.mul(oneHot, tf.logSoftmax(logits)), 1));
    return tf.sum(tf.mul(perExample, tf.cast(weights, 'float32'))) as tf.Scalar;
  });
}
