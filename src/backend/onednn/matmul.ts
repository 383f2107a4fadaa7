import * as tf from '@tensorflow/tfjs-core';
import { output, sizeOf, values } from './storage';
import { addon, cpuKernel, Kernel, KernelArgs } from './state';

interface Plan {
  batch: number;
  m: number;
  k: number;
  n: number;
  outShape: number[];
}

/** Same batch on both sides (no broadcasting) and float32; else undefined (the cpu kernel runs). */
function plan(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): Plan | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return undefined;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  if (batchA.length !== batchB.length || batchA.some((d, i) => d !== batchB[i])) return undefined;
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transposeA ? ac : ar;
  const k = transposeA ? ar : ac;
  const kb = transposeB ? bc : br;
  const n = transposeB ? br : bc;
  if (k !== kb || m === 0 || n === 0 || k === 0) return undefined;
  return { batch: sizeOf(batchA), m, k, n, outShape: [...batchA, m, n] };
}

function run(args: KernelArgs, p: Plan, bias: tf.TensorInfo | undefined, relu: boolean): tf.TensorInfo {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const out = new Float32Array(sizeOf(p.outShape));
  const geometry = [p.batch, p.m, p.k, p.n, args.attrs.transposeA ? 1 : 0, args.attrs.transposeB ? 1 : 0];
  const be = args.backend;
  addon().matMul(values(be, a), values(be, b), out, geometry, bias ? values(be, bias) : null, relu);
  return output(be, p.outShape, out);
}

export const batchMatMul: Kernel = (args: KernelArgs) => {
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const p = plan(a, b, Boolean(args.attrs.transposeA), Boolean(args.attrs.transposeB));
  if (!p) return cpuKernel(tf.BatchMatMul)(args);
  return run(args, p, undefined, false);
};

/** _FusedMatMul with no or a [n] bias and linear or ReLU activation; others: the cpu kernel. */
export const fusedMatMul: Kernel = (args: KernelArgs) => {
  const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo | undefined>;
  const activation = (args.attrs.activation as string | undefined) ?? 'linear';
  const p = a && b && !preluActivationWeights && (activation === 'linear' || activation === 'relu')
    ? plan(a, b, Boolean(args.attrs.transposeA), Boolean(args.attrs.transposeB))
    : undefined;
  const biasOk = bias === undefined || (bias.dtype === 'float32' && bias.shape.length === 1 && bias.shape[0] === p?.n);
  if (!p || !biasOk) return cpuKernel(tf._FusedMatMul)(args);
  return run(args, p, bias, activation === 'relu');
};
