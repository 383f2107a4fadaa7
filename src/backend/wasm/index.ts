import * as tf from '@tensorflow/tfjs-core';
import { conv2dBackpropFilter, conv2dBackpropInput } from './conv-grads';
import { identityNoCopy, castOrShare } from './identity';
import { captureOriginal, originalKernel, replaceKernel } from './kernel-utils';
import { batchMatMul } from './matmul';
import { maxPoolGrad } from './pool-grad';
import { sum } from './reduce';

export { setFilterGradChunk } from './conv-grads';

/**
 * Training kernels for the wasm backend, built from kernels it runs fast (see docs/backend.md).
 * Registered for 'wasm' only: the cpu and native backends keep their own kernels. Because these
 * are kernels rather than op-level gradients, tf.conv2d, tf.fused.conv2d and tf.matMul
 * gradients all use them.
 */
let registered = false;

export function registerWasmTrainingKernels(): void {
  if (registered) return;
  for (const name of [tf.Conv2D, tf.Transpose, tf.Slice, tf.Add, tf.BatchMatMul, tf.Sum, tf.MaxPoolGrad, tf.Cast, tf.Identity]) {
    captureOriginal(name);
  }
  replaceKernel(tf.Conv2DBackpropInput, conv2dBackpropInput);
  replaceKernel(tf.Conv2DBackpropFilter, conv2dBackpropFilter);
  replaceKernel(tf.BatchMatMul, batchMatMul);
  replaceKernel(tf.MaxPoolGrad, maxPoolGrad);
  replaceKernel(tf.Sum, sum);
  replaceKernel(tf.Identity, identityNoCopy);
  replaceKernel(tf.Cast, castOrShare(originalKernel(tf.Cast)));
  registered = true;
}
