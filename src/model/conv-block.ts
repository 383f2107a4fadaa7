import * as tf from '@tensorflow/tfjs-core';
import { CONV2D_BACKPROP_FILTER_BIAS, hasKernel, RELU_GRAD } from '../backend/fused-kernels';

/**
 * relu(conv2d(x, filter, stride 1) + bias) as one op with its own gradient.
 *
 * Under a gradient tape tfjs does not fuse `tf.fused.conv2d` with a ReLU: it runs conv, bias add
 * and ReLU separately and keeps all three outputs alive until the backward pass. This op runs
 * the backend's FusedConv2D kernel (one pass over the output) and keeps only its input, filter
 * and output: ReLU's derivative is step(output). The gradients go through the backend's
 * Conv2DBackpropInput / Conv2DBackpropFilter kernels (hpcdl's on wasm, oneDNN's on onednn).
 * `precision: 'bf16'` is an attribute of the three kernels: the onednn backend then convolves in
 * bf16 (fp32 in and out); other backends ignore it.
 */
export function convBiasRelu(
  x: tf.Tensor4D,
  filter: tf.Tensor4D,
  bias: tf.Tensor1D,
  pad: 'same' | 'valid',
  opts: { inputGradient?: boolean; precision?: 'fp32' | 'bf16' } = {},
): tf.Tensor4D {
  return fusedOp(pad, opts.inputGradient ?? true, opts.precision ?? 'fp32')(x, filter, bias);
}

type ConvOp = (x: tf.Tensor, filter: tf.Tensor, bias: tf.Tensor) => tf.Tensor4D;
const ops = new Map<string, ConvOp>();

/**
 * `inputGradient: false` (the first layer, whose input is data) returns zeros for x instead of
 * computing a gradient nobody uses: a custom gradient cannot see which inputs need one.
 */
function fusedOp(pad: 'same' | 'valid', inputGradient: boolean, precision: 'fp32' | 'bf16'): ConvOp {
  const key = `${pad}/${inputGradient}/${precision}`;
  const existing = ops.get(key);
  if (existing) return existing;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, filter, bias, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D, tf.GradSaveFunc];
    const y = tf.engine().runKernel(
      tf.FusedConv2D,
      { x, filter, bias },
      { strides: [1, 1], pad, dataFormat: 'NHWC', dilations: [1, 1], activation: 'relu', precision },
    ) as tf.Tensor4D;
    save([x, filter, y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [input, kernel, output] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
        // a backend with the fused kernels (onednn) makes one pass for dz and gets dBias with dFilter
        const fused = hasKernel(RELU_GRAD) && hasKernel(CONV2D_BACKPROP_FILTER_BIAS);
        const dz = (fused ? tf.engine().runKernel(RELU_GRAD, { dy, y: output }) : tf.mul(dy, tf.step(output))) as tf.Tensor4D;
        const dx = inputGradient
          ? (tf.engine().runKernel(
            tf.Conv2DBackpropInput,
            { dy: dz, filter: kernel },
            { strides: [1, 1], pad, dataFormat: 'NHWC', inputShape: input.shape, precision },
          ) as tf.Tensor4D)
          : tf.zerosLike(input);
        const filterAttrs = { strides: [1, 1], pad, dataFormat: 'NHWC', filterShape: kernel.shape, precision };
        if (fused) {
          const [dFilter, dBias] = tf.engine().runKernel(CONV2D_BACKPROP_FILTER_BIAS, { x: input, dy: dz }, filterAttrs) as tf.Tensor[];
          return [dx, dFilter, dBias];
        }
        const dFilter = tf.engine().runKernel(tf.Conv2DBackpropFilter, { x: input, dy: dz }, filterAttrs) as tf.Tensor4D;
        const dBias = tf.sum(dz, [0, 1, 2]);
        return [dx, dFilter, dBias];
      },
    };
  }) as unknown as ConvOp;
  ops.set(key, op);
  return op;
}
