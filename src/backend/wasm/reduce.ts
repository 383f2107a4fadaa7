import * as tf from '@tensorflow/tfjs-core';
import { free, KernelArgs, originalKernel, releaseView, run, sizeOf, TensorInfo, view, WasmBackend } from './kernel-utils';

/**
 * Sum over leading axes (a bias gradient: dy summed over batch, rows and columns).
 * The stock wasm Sum first transposes the reduced axes innermost, which for a
 * 128x64x64x128 gradient costs more than the sum itself. Here the rows are folded in halves
 * with the (SIMD) Add kernel on views of the two halves — no transpose, no copy — and the last
 * few rows are summed in JavaScript. Other reductions use the stock kernel.
 */
const FOLD_UNTIL_ROWS = 8;

export function sum({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { x } = inputs;
  const rank = x.shape.length;
  const axes = normalizedAxes(attrs.axis as number | number[] | undefined, rank);
  const leading = axes.length < rank && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !leading || axes.length === 0) {
    return originalKernel(tf.Sum)({ inputs, backend, attrs });
  }
  const kept = x.shape.slice(axes.length);
  const cols = sizeOf(kept);
  const rows = sizeOf(x.shape.slice(0, axes.length));
  const outShape = attrs.keepDims ? [...axes.map(() => 1), ...kept] : kept;
  const acc = new Float64Array(cols);
  const folded = foldRows(backend, x, rows, cols, acc);
  const out = backend.makeOutput(outShape, 'float32');
  const src = backend.typedArrayFromHeap(folded.tensor) as Float32Array;
  for (let r = 0; r < folded.rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) acc[c] += src[base + c];
  }
  if (folded.tensor !== x) free(backend, folded.tensor);
  const dst = backend.typedArrayFromHeap(out) as Float32Array;
  for (let c = 0; c < cols; c++) dst[c] = acc[c];
  return out;
}

/** Halves the row count with Add until few rows remain; an odd last row goes into `acc`. */
function foldRows(backend: WasmBackend, x: TensorInfo, rows: number, cols: number, acc: Float64Array): { tensor: TensorInfo; rows: number } {
  let current = x;
  while (rows > FOLD_UNTIL_ROWS) {
    if (rows % 2 === 1) {
      const src = backend.typedArrayFromHeap(current) as Float32Array;
      const base = (rows - 1) * cols;
      for (let c = 0; c < cols; c++) acc[c] += src[base + c];
      rows -= 1;
    }
    const half = rows / 2;
    const a = view(backend, current, 0, [half * cols]);
    const b = view(backend, current, half * cols, [half * cols]);
    const next = run(tf.Add, backend, { a, b });
    releaseView(backend, a);
    releaseView(backend, b);
    if (current !== x) free(backend, current);
    current = next;
    rows = half;
  }
  return { tensor: current, rows };
}

function normalizedAxes(axis: number | number[] | undefined, rank: number): number[] {
  const list = axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  return [...new Set(list.map((a) => (a < 0 ? a + rank : a)))].sort((p, q) => p - q);
}
