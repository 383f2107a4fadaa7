/**
 * Worker thread of DataParallelGradients: holds a replica of the HEP CNN, takes its weights
 * from shared memory before every step, and writes the gradient of the weighted
 * cross-entropy SUM over its shard into its own shared buffer.
 */
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../backend';
import type { HepConfig } from '../config/types';
import { buildHepCnn, HepCnn } from './hep-cnn';
import { weightedCrossEntropySum } from './loss';
import { addGradients, passRanges } from './gradients';

export interface WorkerInit {
  kind: 'init';
  config: HepConfig;
  seed: number;
  backend: string;
  weights: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  imagesPerPass: number;
}

export interface WorkerStep {
  kind: 'step';
  images: Float32Array;
  shape: [number, number, number, number];
  labels: Int32Array;
  weights: Float32Array;
}

export type WorkerRequest = WorkerInit | WorkerStep | { kind: 'stop' };

export type WorkerReply =
  | { kind: 'ready'; sizes: number[] }
  | { kind: 'done'; lossSum: number; nonZero: number }
  | { kind: 'error'; message: string };

let model: HepCnn | undefined;
let weightsView: Float32Array | undefined;
let gradsView: Float32Array | undefined;
let imagesPerPass = Number.MAX_SAFE_INTEGER;

async function handle(message: WorkerRequest): Promise<WorkerReply | undefined> {
  switch (message.kind) {
    case 'init': {
      await initBackend({ force: message.backend, log: () => undefined });
      model = buildHepCnn(message.config, { seed: message.seed });
      weightsView = new Float32Array(message.weights);
      gradsView = new Float32Array(message.grads);
      imagesPerPass = message.imagesPerPass;
      return { kind: 'ready', sizes: model.variables.map((v) => v.size) };
    }
    case 'step':
      return step(message);
    case 'stop':
      model?.dispose();
      parentPort?.close();
      return undefined;
  }
}

function step(message: WorkerStep): WorkerReply {
  if (!model || !weightsView || !gradsView) throw new Error('gradient worker: step before init');
  const replica = model;
  loadWeights(replica, weightsView);
  const [count, ...imageShape] = message.shape;
  const perImage = imageShape.reduce((a, b) => a * b, 1);
  let grads: tf.NamedTensorMap | undefined;
  let lossSum = 0;
  for (const [from, n] of passRanges(count, imagesPerPass)) {
    const images = tf.tensor4d(message.images.subarray(from * perImage, (from + n) * perImage), [n, ...imageShape] as [number, number, number, number]);
    const labels = tf.tensor1d(message.labels.subarray(from, from + n), 'int32');
    const weights = tf.tensor1d(message.weights.subarray(from, from + n), 'float32');
    const pass = tf.variableGrads(() => weightedCrossEntropySum(replica.logits(images, true), labels, weights), replica.variables);
    lossSum += pass.value.dataSync()[0];
    grads = addGradients(grads, pass.grads);
    tf.dispose([images, labels, weights, pass.value]);
  }
  let offset = 0;
  for (const variable of replica.variables) {
    gradsView.set((grads as tf.NamedTensorMap)[variable.name].dataSync() as Float32Array, offset);
    offset += variable.size;
  }
  let nonZero = 0;
  for (const w of message.weights) if (w !== 0) nonZero++;
  tf.dispose(Object.values(grads as tf.NamedTensorMap));
  return { kind: 'done', lossSum, nonZero };
}

function loadWeights(replica: HepCnn, source: Float32Array): void {
  let offset = 0;
  for (const variable of replica.variables) {
    const values = source.subarray(offset, offset + variable.size);
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, 'float32')));
    offset += variable.size;
  }
}

if (parentPort) {
  const port = parentPort;
  port.on('message', (message: WorkerRequest) => {
    handle(message).then(
      (reply) => reply && port.postMessage(reply),
      (err: unknown) => port.postMessage({ kind: 'error', message: err instanceof Error ? err.message : String(err) }),
    );
  });
}
