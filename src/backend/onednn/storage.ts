import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { nativeState } from './state';

/** The float32 values the cpu backend (and so this one) holds for a tensor, without a copy. */
export function values(backend: MathBackendCPU, info: tf.TensorInfo): Float32Array {
  const data = backend.data.get(info.dataId)?.values;
  if (data instanceof Float32Array) return data;
  if (data === undefined) throw new Error('onednn backend: tensor has no values');
  return Float32Array.from(data as ArrayLike<number>);
}

/**
 * Room for a kernel's output that the kernel overwrites entirely: native memory without the
 * zero fill of `new Float32Array` (small outputs: a plain array, cheaper than the call).
 */
export function uninitialised(n: number): Float32Array {
  return n >= 1 << 16 && nativeState.addon ? nativeState.addon.alloc(n) : new Float32Array(n);
}

export function output(backend: MathBackendCPU, shape: number[], data: Float32Array): tf.TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', data);
}

export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
