import * as tf from '@tensorflow/tfjs-core';

/**
 * A kernel some backends provide (onednn): one pass of TensorFlow 1.x's Adam over a variable.
 * inputs {weights, m, v, grad}; attrs {lrT, beta1, beta2, epsilon}; outputs [weights', m', v'].
 * src/train/adam.ts uses it where the active backend has it and composes tf ops elsewhere.
 */
export const ADAM_UPDATE = 'HpcdlAdamUpdate';

export function hasFusedAdam(): boolean {
  return tf.getKernel(ADAM_UPDATE, tf.getBackend()) !== undefined;
}
