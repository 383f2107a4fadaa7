import * as tf from '@tensorflow/tfjs-core';

/** Sums two gradient maps, disposing both inputs (the first may be undefined). */
export function addGradients(total: tf.NamedTensorMap | undefined, more: tf.NamedTensorMap): tf.NamedTensorMap {
  if (!total) return more;
  const previous = total;
  const sum = tf.tidy(() => Object.fromEntries(Object.keys(more).map((k) => [k, tf.add(previous[k], more[k])])));
  tf.dispose([...Object.values(previous), ...Object.values(more)]);
  return sum;
}

/** [start, count] of each pass over `total` images, at most `maxPerPass` each, sizes balanced. */
export function passRanges(total: number, maxPerPass: number): [number, number][] {
  const passes = Math.max(1, Math.ceil(total / maxPerPass));
  const ranges: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < passes; i++) {
    const count = Math.floor(total / passes) + (i < total % passes ? 1 : 0);
    ranges.push([start, count]);
    start += count;
  }
  return ranges;
}
