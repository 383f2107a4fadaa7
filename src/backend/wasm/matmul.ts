import * as tf from '@tensorflow/tfjs-core';
import { conv, free, KernelArgs, originalKernel, reshaped, sizeOf, TensorInfo, transpose, WasmBackend } from './kernel-utils';

/**
 * BatchMatMul on wasm: its own kernel runs ~4x below the XNNPACK conv's speed, and much worse
 * with transposeA/transposeB (strided access). A single (unbatched) product is computed as a
 * 1x1 convolution — [1,1,M,K] * [1,1,K,N] — after explicit transposes; batched products keep
 * the stock kernel but also get explicit transposes.
 */
export function batchMatMul({ inputs, backend, attrs }: KernelArgs): TensorInfo {
  const { a, b } = inputs;
  const transposeA = Boolean(attrs.transposeA);
  const transposeB = Boolean(attrs.transposeB);
  const batchA = sizeOf(a.shape.slice(0, -2));
  const batchB = sizeOf(b.shape.slice(0, -2));
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    return originalKernel(tf.BatchMatMul)({ inputs, backend, attrs });
  }
  if (batchA === 1 && batchB === 1) return matMulAsConv(backend, a, b, transposeA, transposeB);
  const aPlain = transposeA ? transpose(backend, a, swapLastTwo(a.shape.length)) : a;
  const bPlain = transposeB ? transpose(backend, b, swapLastTwo(b.shape.length)) : b;
  const out = originalKernel(tf.BatchMatMul)({
    inputs: { a: aPlain, b: bPlain },
    backend,
    attrs: { ...attrs, transposeA: false, transposeB: false },
  });
  if (transposeA) free(backend, aPlain);
  if (transposeB) free(backend, bPlain);
  return out;
}

function swapLastTwo(rank: number): number[] {
  return [...Array(rank - 2).keys(), rank - 1, rank - 2];
}

function matMulAsConv(backend: WasmBackend, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo {
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const a2 = reshaped(a, [ar, ac]);
  const b2 = reshaped(b, [br, bc]);
  const aPlain = transposeA ? transpose(backend, a2, [1, 0]) : a2;
  const bPlain = transposeB ? transpose(backend, b2, [1, 0]) : b2;
  const [m, k] = aPlain.shape;
  const [k2, n] = bPlain.shape;
  if (k !== k2) {
    throw new Error(`Error in matMul: inner shapes (${k}) and (${k2}) of Tensors with shapes ${a.shape} and ${b.shape} must match.`);
  }
  const out = conv(backend, reshaped(aPlain, [1, 1, m, k]), reshaped(bPlain, [1, 1, k, n]), 'valid');
  if (transposeA) free(backend, aPlain);
  if (transposeB) free(backend, bPlain);
  const outerDims = a.shape.length >= b.shape.length ? a.shape.slice(0, -2) : b.shape.slice(0, -2);
  return { dataId: out.dataId, dtype: out.dtype, shape: [...outerDims, m, n] };
}
