import * as tf from '@tensorflow/tfjs-core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/** The float32 values the cpu backend (and so this one) holds for a tensor, without a copy. */
export function values(backend: MathBackendCPU, info: tf.TensorInfo): Float32Array {
  const data = backend.data.get(info.dataId)?.values;
  if (data instanceof Float32Array) return data;
  if (data === undefined) throw new Error('onednn backend: tensor has no values');
  return Float32Array.from(data as ArrayLike<number>);
}

export function output(backend: MathBackendCPU, shape: number[], data: Float32Array): tf.TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', data);
}

export function sizeOf(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
