import * as tf from '@tensorflow/tfjs-core';

/**
 * Kernels some backends (onednn) provide beyond TensorFlow.js's set, so a training step makes
 * fewer passes over its largest tensors. Callers check `hasKernel` and compose tf ops elsewhere.
 *
 * HpcdlAdamUpdate: one pass of TensorFlow 1.x's Adam over a variable (src/train/adam.ts).
 *   inputs {weights, m, v, grad}; attrs {lrT, beta1, beta2, epsilon}; outputs [weights', m', v'].
 * HpcdlReluGrad: dy · step(y) for y = relu(...) (src/model/conv-block.ts). inputs {dy, y}.
 * HpcdlConv2DBackpropFilterBias: Conv2DBackpropFilter's inputs and attrs; outputs
 *   [dFilter, dBias] with dBias the sum of dy over all but the channel axis.
 */
export const ADAM_UPDATE = 'HpcdlAdamUpdate';
export const RELU_GRAD = 'HpcdlReluGrad';
export const CONV2D_BACKPROP_FILTER_BIAS = 'HpcdlConv2DBackpropFilterBias';

/** whether the active backend has the kernel */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}
