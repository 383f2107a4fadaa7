import * as tf from '@tensorflow/tfjs-core';

/** Sums two gradient maps, disposing both inputs (the first may be undefined). */
export function addGradients(total: tf.NamedTensorMap | undefined, more: tf.NamedTensorMap): tf.NamedTensorMap {
  if (!total) return more;
  const previous = total;
  const sum = tf.tidy(() => Object.fromEntries(Object.keys(more).map((k) => [k, tf.add(previous[k], more[k])])));
  tf.dispose([...Object.values(previous), ...Object.values(more)]);
  return sum;
}
