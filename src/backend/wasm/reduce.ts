import * as tf from '@tensorflow/tfjs-core';
import { KernelArgs, originalKernel, sizeOf, TensorInfo } from './kernel_utils';

/**
 * Sum over leading axes (a bias gradient: sum of dy over batch, rows, columns) in JavaScript.
 * The stock wasm Sum first transposes the reduced axes innermost, which for a
 * 128x64x64x128 gradient costs more than the sum; a row-wise accumulation needs no copy.
 * Other reductions use the stock kernel.
 */
export function sum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs;
  const rank = x.shape.length;
  const axes = normalizedAxes(attrs.axis as number | number[] | undefined, rank);
  const leading = axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading || axes.length === 0) {
    return originalKernel(tf.Sum)({ inputs, backend, attrs });
  }
  const kept = x.shape.slice(axes.length);
  const outShape = attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const out = backend.makeOutput(outShape, 'float32');
  const src = backend.typedArrayFromHeap(x) as Float32Array;
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  const cols = sizeOf(kept);
  const rows = sizeOf(x.shape.slice(0, axes.length));
  const acc = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) acc[c] += src[base + c];
  }
  for (let c = 0; c < cols; c++) dst[c] = acc[c];
  return out;
}

function normalizedAxes(axis: number | number[] | undefined, rank: number): number[] {
  const list = axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
}
