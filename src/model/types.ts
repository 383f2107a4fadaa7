import type * as tf from '@tensorflow/tfjs-core';

/**
 * What the training loop needs of a model. The HEP CNN is the built-in
 * instance; a user's own model trains the same way by implementing this.
 */
export interface TrainableModel {
  readonly name: string;
  /** input layout the model expects for `logits` */
  readonly inputLayout: 'NCHW' | 'NHWC';
  /** trainable variables, in a stable order (checkpoints rely on it) */
  readonly variables: tf.Variable[];
  /** class logits [B, numClasses]; `training` turns dropout on */
  logits(images: tf.Tensor4D, training: boolean): tf.Tensor2D;
  dispose(): void;
}
