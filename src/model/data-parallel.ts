import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { currentBackend, setOnednnThreads } from '../backend';
import type { HepCnn } from './hep-cnn';
import { weightedCrossEntropySum } from './loss';
import { addGradients, passRanges } from './gradients';
import type { WorkerReply, WorkerRequest } from './gradient-worker';

export interface DataParallelOptions {
  /** threads computing gradients, the calling thread included (default: available CPUs) */
  threads?: number;
  /**
   * most images one thread runs through the network at once; larger shards are processed in
   * passes whose gradients are summed (exact: the loss is a weighted sum until the final
   * division). Default: what fits the wasm heap (4 GB) comfortably, unlimited on native backends.
   */
  imagesPerPass?: number;
}

export interface GradientResult {
  /** weighted mean cross-entropy of the whole batch (as weightedSoftmaxCrossEntropy) */
  value: tf.Scalar;
  /** gradients keyed by variable name, as tf.variableGrads returns them */
  grads: tf.NamedTensorMap;
}

interface PendingReply {
  resolve: (reply: WorkerReply) => void;
  reject: (err: Error) => void;
}

interface GradientWorker {
  worker: Worker;
  grads: Float32Array;
  pending?: PendingReply;
}

/**
 * Gradients of the HEP CNN's weighted cross-entropy computed by several threads at once:
 * the batch is split, the calling thread computes the first shard on `model` itself and each
 * worker thread computes one more shard on its own replica (own wasm heap), whose weights are
 * copied from `model` through shared memory before every step. The result equals
 * tf.variableGrads of weightedSoftmaxCrossEntropy over the whole batch (up to float rounding
 * and the dropout masks, which each thread draws from its own seed).
 *
 * The wasm backend runs one thread; this is how a training step uses the other cores. The onednn
 * backend threads inside its kernels instead: there, no workers are spawned and `threads` is
 * the size of oneDNN's thread pool.
 */
export class DataParallelGradients {
  private readonly weightsView: Float32Array;
  private disposed = false;

  private constructor(
    private readonly model: HepCnn,
    private readonly workers: GradientWorker[],
    weights: SharedArrayBuffer,
    /** most images per forward/backward pass */
    readonly imagesPerPass: number,
    /** threads inside the native kernels (onednn), when the backend threads itself */
    private readonly kernelThreads?: number,
  ) {
    this.weightsView = new Float32Array(weights);
  }

  /** total threads computing gradients (the caller's included) */
  get threads(): number {
    return this.kernelThreads ?? this.shards;
  }

  /** batch shards: the caller's and one per worker */
  private get shards(): number {
    return this.workers.length + 1;
  }

  static async create(model: HepCnn, opts: DataParallelOptions = {}): Promise<DataParallelGradients> {
    const threads = opts.threads ?? availableThreads();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new Error(`DataParallelGradients: threads must be a positive integer, got ${threads}`);
    }
    const total = model.variables.reduce((n, v) => n + v.size, 0);
    const weights = new SharedArrayBuffer(total * 4);
    const workers: GradientWorker[] = [];
    const imagesPerPass = opts.imagesPerPass ?? defaultImagesPerPass(model, currentBackend() || 'wasm');
    if (!Number.isInteger(imagesPerPass) || imagesPerPass < 1) {
      throw new Error(`DataParallelGradients: imagesPerPass must be a positive integer, got ${imagesPerPass}`);
    }
    const threadsInKernels = currentBackend() === 'onednn';
    if (threadsInKernels) setOnednnThreads(threads);
    const parallel = new DataParallelGradients(model, workers, weights, imagesPerPass, threadsInKernels ? threads : undefined);
    try {
      for (let i = 1; i < (threadsInKernels ? 1 : threads); i++) {
        const grads = new SharedArrayBuffer(total * 4);
        const entry: GradientWorker = { worker: spawnGradientWorker(), grads: new Float32Array(grads) };
        parallel.listen(entry);
        workers.push(entry);
        const seed = (model.config.seed ?? 12345) + 7919 * i;
        const backend = currentBackend() || 'wasm';
        const reply = await parallel.request(entry, { kind: 'init', config: model.config, seed, backend, weights, grads, imagesPerPass });
        if (reply.kind !== 'ready') throw new Error(`gradient worker ${i} failed to start`);
      }
    } catch (err) {
      await parallel.dispose();
      throw err;
    }
    return parallel;
  }

  async compute(images: tf.Tensor4D, labels: tf.Tensor1D, weights: tf.Tensor1D): Promise<GradientResult> {
    if (this.disposed) throw new Error('DataParallelGradients: used after dispose()');
    const batch = images.shape[0];
    if (batch < this.shards || this.shards === 1) {
      return this.computeLocally(images, labels, weights);
    }
    this.publishWeights();
    const bounds = shardBounds(batch, this.shards);
    const imageData = images.dataSync() as Float32Array;
    const labelData = labels.dataSync() as Int32Array;
    const weightData = weights.dataSync() as Float32Array;
    const perImage = images.size / batch;
    const replies = this.workers.map((entry, i) => {
      const [start, end] = bounds[i + 1];
      const shape = [end - start, ...images.shape.slice(1)] as [number, number, number, number];
      const shardImages = imageData.slice(start * perImage, end * perImage);
      return this.request(
        entry,
        {
          kind: 'step',
          images: shardImages,
          shape,
          labels: Int32Array.from(labelData.subarray(start, end)),
          weights: Float32Array.from(weightData.subarray(start, end)),
        },
        [shardImages.buffer],
      );
    });
    const [start, end] = bounds[0];
    const local = this.localShard(images, labels, weights, start, end);
    const results = await Promise.all(replies);
    return this.combine(local, results);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.all(this.workers.map((entry) => entry.worker.terminate()));
  }

  // -------------------------------------------------------------------------------------

  private computeLocally(images: tf.Tensor4D, labels: tf.Tensor1D, weights: tf.Tensor1D): GradientResult {
    const local = this.localShard(images, labels, weights, 0, images.shape[0]);
    return this.combine(local, []);
  }

  private localShard(images: tf.Tensor4D, labels: tf.Tensor1D, weights: tf.Tensor1D, start: number, end: number) {
    let grads: tf.NamedTensorMap | undefined;
    let lossSum = 0;
    let nonZero = 0;
    for (const [offset, count] of passRanges(end - start, this.imagesPerPass)) {
      const from = start + offset;
      const x = tf.slice(images, from, count);
      const y = tf.slice(labels, from, count);
      const w = tf.slice(weights, from, count);
      const pass = tf.variableGrads(() => weightedCrossEntropySum(this.model.logits(x, true), y, w), this.model.variables);
      nonZero += (tf.tidy(() => tf.sum(tf.cast(tf.notEqual(w, 0), 'float32'))).dataSync() as Float32Array)[0];
      lossSum += pass.value.dataSync()[0];
      grads = addGradients(grads, pass.grads);
      tf.dispose([x, y, w, pass.value]);
    }
    return { grads: grads as tf.NamedTensorMap, lossSum, nonZero };
  }

  private combine(
    local: { grads: tf.NamedTensorMap; lossSum: number; nonZero: number },
    remote: WorkerReply[],
  ): GradientResult {
    let lossSum = local.lossSum;
    let nonZero = local.nonZero;
    for (const reply of remote) {
      if (reply.kind !== 'done') throw new Error('gradient worker: unexpected reply');
      lossSum += reply.lossSum;
      nonZero += reply.nonZero;
    }
    const scale = 1 / Math.max(nonZero, 1);
    const grads: tf.NamedTensorMap = {};
    let offset = 0;
    for (const variable of this.model.variables) {
      const summed = Float32Array.from(local.grads[variable.name].dataSync() as Float32Array);
      for (const entry of this.workers) {
        const part = entry.grads.subarray(offset, offset + variable.size);
        for (let i = 0; i < summed.length; i++) summed[i] += part[i];
      }
      for (let i = 0; i < summed.length; i++) summed[i] *= scale;
      grads[variable.name] = tf.tensor(summed, variable.shape, 'float32');
      offset += variable.size;
    }
    tf.dispose(Object.values(local.grads));
    return { value: tf.scalar(lossSum * scale), grads };
  }

  private publishWeights(): void {
    let offset = 0;
    for (const variable of this.model.variables) {
      this.weightsView.set(variable.dataSync() as Float32Array, offset);
      offset += variable.size;
    }
  }

  private listen(entry: GradientWorker): void {
    const fail = (err: Error) => {
      const pending = entry.pending;
      entry.pending = undefined;
      pending?.reject(err);
    };
    entry.worker.on('message', (reply: WorkerReply) => {
      const pending = entry.pending;
      entry.pending = undefined;
      if (!pending) return;
      if (reply.kind === 'error') pending.reject(new Error(`gradient worker: ${reply.message}`));
      else pending.resolve(reply);
    });
    entry.worker.on('error', (err) => fail(err instanceof Error ? err : new Error(String(err))));
    entry.worker.on('exit', (code) => fail(new Error(`gradient worker exited (code ${code})`)));
  }

  private request(entry: GradientWorker, message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply> {
    return new Promise((resolve, reject) => {
      entry.pending = { resolve, reject };
      entry.worker.postMessage(message, transfer);
    });
  }
}

/**
 * Images per pass that keep a pass's tensors near 1.5 GB on the JS/wasm backends (the wasm heap
 * is at most 4 GB). Measured: a 64x64 HEP CNN training pass needs ~22 MB per image, about
 * 11 x the first conv layer's output. The onednn backend has no heap limit but shares the
 * node's memory: at most 4 GB or a quarter of it per pass (HEP-CNN-224 at batch 128 would need
 * ~36 GB in one pass; 64 fits in one).
 */
function defaultImagesPerPass(model: HepCnn, backendName: string): number {
  const limit = backendName === 'wasm' || backendName === 'cpu' ? 1.5e9 : backendName === 'onednn' ? Math.min(4e9, os.totalmem() / 4) : 0;
  if (limit === 0) return Number.MAX_SAFE_INTEGER;
  const [h, w] = model.imageShapeNHWC;
  const bytesPerImage = 11 * h * w * model.config.conv_params.num_filters * 4;
  return Math.max(1, Math.floor(limit / bytesPerImage));
}

function availableThreads(): number {
  const osWithParallelism = os as typeof os & { availableParallelism?: () => number };
  return osWithParallelism.availableParallelism ? osWithParallelism.availableParallelism() : os.cpus().length;
}

/** [start, end) of each thread's shard, sizes differing by at most one */
function shardBounds(batch: number, threads: number): [number, number][] {
  const bounds: [number, number][] = [];
  let start = 0;
  for (let i = 0; i < threads; i++) {
    const size = Math.floor(batch / threads) + (i < batch % threads ? 1 : 0);
    bounds.push([start, start + size]);
    start += size;
  }
  return bounds;
}

/** The worker module, from dist/ (.js) or from the TypeScript sources under tsx. */
function spawnGradientWorker(): Worker {
  const file = path.join(__dirname, `gradient-worker${path.extname(__filename)}`);
  if (file.endsWith('.ts')) {
    return new Worker(`require('tsx/cjs'); require(${JSON.stringify(file)});`, { eval: true });
  }
  return new Worker(file);
}
