import * as tf from '@tensorflow/tfjs-core';
import { backend_util, util } from '@tensorflow/tfjs-core';
import { output, sizeOf, values } from './storage';
import { addon, cpuKernel, Kernel, KernelArgs } from './state';

export const relu: Kernel = (args: KernelArgs) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  if (x.dtype !== 'float32') return cpuKernel(tf.Relu)(args);
  const n = sizeOf(x.shape);
  const out = new Float32Array(n);
  addon().relu(values(args.backend, x), out, n);
  return output(args.backend, x.shape, out);
};

/** Sum over every axis but the last (a bias gradient) natively; other sums: the cpu kernel. */
export const sum: Kernel = (args: KernelArgs) => {
  const { x } = args.inputs as { x: tf.TensorInfo };
  const rank = x.shape.length;
  const axes = util.parseAxisParam(args.attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
  const allButLast = rank >= 2 && axes.length === rank - 1 && axes.every((a, i) => a === i);
  if (x.dtype !== 'float32' || !allButLast) return cpuKernel(tf.Sum)(args);
  const channels = x.shape[rank - 1];
  const out = new Float32Array(channels);
  addon().sumChannels(values(args.backend, x), out, sizeOf(x.shape) / Math.max(channels, 1), channels);
  const shape = args.attrs.keepDims ? [...x.shape.slice(0, -1).map(() => 1), channels] : [channels];
  return output(args.backend, shape, out);
};

const BINARY_OPS: Record<string, number> = { [tf.Add]: 0, [tf.Sub]: 1, [tf.Multiply]: 2, [tf.RealDiv]: 3 };

/** Add, Sub, Multiply, RealDiv of float32 tensors of one shape, or with a one-element side. */
export function binary(name: string): Kernel {
  const op = BINARY_OPS[name];
  return (args: KernelArgs) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return cpuKernel(name)(args);
    const shape = backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const n = sizeOf(shape);
    const sa = sizeOf(a.shape);
    const sb = sizeOf(b.shape);
    const mode = sa === n && sb === n ? 0 : sa === 1 && sb === n ? 1 : sb === 1 && sa === n ? 2 : -1;
    if (mode < 0) return cpuKernel(name)(args);
    const out = new Float32Array(n);
    addon().binary(op, values(args.backend, a), values(args.backend, b), out, n, mode);
    return output(args.backend, shape, out);
  };
}

const UNARY_OPS: Record<string, number> = { [tf.Step]: 0, [tf.Sqrt]: 1, [tf.Square]: 2 };

/** Step, Sqrt, Square of a float32 tensor. */
export function unary(name: string): Kernel {
  const op = UNARY_OPS[name];
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype !== 'float32') return cpuKernel(name)(args);
    const n = sizeOf(x.shape);
    const out = new Float32Array(n);
    addon().unary(op, values(args.backend, x), out, n, (args.attrs?.alpha as number | undefined) ?? 0);
    return output(args.backend, x.shape, out);
  };
}

/** HpcdlAdamUpdate (src/backend/fused-kernels.ts): TF1 Adam over one float32 variable in one pass. */
export const adamUpdate: Kernel = (args: KernelArgs) => {
  const { weights, m, v, grad } = args.inputs as Record<string, tf.TensorInfo>;
  const { lrT, beta1, beta2, epsilon } = args.attrs as Record<string, number>;
  const n = sizeOf(weights.shape);
  const be = args.backend;
  const [wOut, mOut, vOut] = [new Float32Array(n), new Float32Array(n), new Float32Array(n)];
  addon().adamUpdate(values(be, weights), values(be, m), values(be, v), values(be, grad), wOut, mOut, vOut, n, lrT, beta1, beta2, epsilon);
  return [output(be, weights.shape, wOut), output(be, weights.shape, mOut), output(be, weights.shape, vOut)];
};

/** HpcdlReluGrad: dy · step(y) in one pass (tfjs's step: NaN stays NaN). */
export const reluGrad: Kernel = (args: KernelArgs) => {
  const { dy, y } = args.inputs as { dy: tf.TensorInfo; y: tf.TensorInfo };
  const n = sizeOf(y.shape);
  if (sizeOf(dy.shape) !== n) throw new Error(`HpcdlReluGrad: dy ${dy.shape} and y ${y.shape} differ`);
  const out = new Float32Array(n);
  addon().reluGradMul(values(args.backend, dy), values(args.backend, y), out, n);
  return output(args.backend, y.shape, out);
};
