/**
 * The network the training driver (hep_classifier_train.ipynb) uses, as the
 * seed's driver imported networks/binary_classifier.py. The layers themselves
 * are hpcdl's HEP CNN (src/model); this module is the notebook-facing wrapper:
 * build it from a config, list its layers, and run a forward pass.
 * networks/binary_classifier.ipynb walks through it.
 */
import * as tf from '@tensorflow/tfjs-core';
import { buildHepCnn, countParameters, type HepCnn, type HepConfig } from 'hpcdl';

/** A type alias (not an interface) so rows fit LiveTable's row type. */
export type LayerRow = { layer: string; 'output shape': string; parameters: number };

/** The seed's `build_cnn_model` for this config (He-normal init seeded by `config.seed`). */
/** `precision` defaults to HPCDL_PRECISION (a batch script's --precision), else fp32. */
export function buildNetwork(config: HepConfig, opts: { seed?: number; precision?: 'fp32' | 'fp16' } = {}): HepCnn {
  const precision = opts.precision ?? (process.env.HPCDL_PRECISION === 'fp16' ? 'fp16' : 'fp32');
  return buildHepCnn(config, { seed: opts.seed ?? config.seed ?? 12345, precision });
}

/** One row per layer: output shape (batch omitted) and parameter count; a total row last. */
export function layerTable(model: HepCnn): LayerRow[] {
  const rows = model.summary().map((l) => ({ layer: l.name, 'output shape': `[${l.outputShape.join(', ')}]`, parameters: l.params }));
  return [...rows, { layer: 'total', 'output shape': '', parameters: countParameters(model) }];
}

/** Trainable variables with their checkpoint names and shapes. */
export function weightTable(model: HepCnn): { name: string; shape: string; size: number }[] {
  return model.namedWeights().map((w) => ({ name: w.name, shape: `[${w.variable.shape.join(', ')}]`, size: w.variable.size }));
}

/** A batch of random images in the model's input layout. */
export function dummyBatch(model: HepCnn, batch: number, seed = 1): tf.Tensor4D {
  const [h, w, c] = model.imageShapeNHWC;
  const shape: [number, number, number, number] = model.inputLayout === 'NCHW' ? [batch, c, h, w] : [batch, h, w, c];
  return tf.randomUniform(shape, 0, 1, 'float32', seed) as tf.Tensor4D;
}

/** Softmax outputs of a forward pass on a random batch (dropout off), as plain arrays. */
export function forwardDummy(model: HepCnn, batch = 4): { inputShape: number[]; probabilities: number[][] } {
  const images = dummyBatch(model, batch);
  const probs = model.predict(images);
  const out = { inputShape: images.shape.slice(), probabilities: probs.arraySync() };
  images.dispose();
  probs.dispose();
  return out;
}
