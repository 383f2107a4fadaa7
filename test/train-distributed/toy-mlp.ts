/**
 * A user module for `trainUserModel` / `cluster.train({ module })`: a small
 * MLP (16 → hidden → 2, ReLU) on a toy task unlike the HEP images: 16
 * features in [-1, 1], signal when x0·x1 + 0.5·x2 > 0 (not linearly
 * separable). The batches are sharded so that at every step the ranks'
 * batches together are exactly the batch one rank reads at the global
 * batch size: N ranks at B/N and one rank at B see the same events.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, EventBatch } from '../../src/data/types';
import type { TrainableModel } from '../../src/model/types';
import { heNormalValues, Rng } from '../../src/model';
import type { RankContext, UserTraining } from '../../src/train';

const FEATURES = 16;

export class ToyMlp implements TrainableModel {
  readonly name: string;
  readonly inputLayout = 'NHWC' as const;
  readonly variables: tf.Variable[];

  constructor(seed: number, hidden = 32) {
    this.name = `toy-mlp-${hidden}`;
    const rng = new Rng(seed);
    this.variables = [
      tf.variable(tf.tensor2d(heNormalValues(FEATURES * hidden, FEATURES, rng), [FEATURES, hidden]), true),
      tf.variable(tf.zeros([hidden]), true),
      tf.variable(tf.tensor2d(heNormalValues(hidden * 2, hidden, rng), [hidden, 2]), true),
      tf.variable(tf.zeros([2]), true),
    ];
  }

  logits(images: tf.Tensor4D, _training: boolean): tf.Tensor2D {
    const [w1, b1, w2, b2] = this.variables;
    return tf.tidy(() => {
      const x = tf.reshape(images, [images.shape[0], FEATURES]) as tf.Tensor2D;
      const h = tf.relu(tf.add(tf.matMul(x, w1 as tf.Tensor2D), b1)) as tf.Tensor2D;
      return tf.add(tf.matMul(h, w2 as tf.Tensor2D), b2) as tf.Tensor2D;
    });
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}

/** Rank `rank`'s slice of every global batch of a seeded toy data set. */
export class ToySource implements BatchSource {
  readonly numEvents: number;
  readonly batchSize: number;
  private readonly features: Float32Array;
  private readonly labels: Int32Array;
  private order: number[] = [];
  private cursor = 0;

  constructor(
    events: number,
    private readonly globalBatch: number,
    private readonly rank: number,
    private readonly size: number,
    seed: number,
    /** sleep this long per batch (tests that need a training to be running for a while) */
    private readonly delayMs = 0,
  ) {
    if (globalBatch % size !== 0) throw new Error(`ToySource: global batch ${globalBatch} is not a multiple of ${size} ranks`);
    this.batchSize = globalBatch / size;
    const rng = new Rng(seed);
    this.features = new Float32Array(events * FEATURES);
    this.labels = new Int32Array(events);
    for (let e = 0; e < events; e++) {
      for (let f = 0; f < FEATURES; f++) this.features[e * FEATURES + f] = rng.uniform() * 2 - 1;
      const x = this.features.subarray(e * FEATURES);
      this.labels[e] = x[0] * x[1] + 0.5 * x[2] > 0 ? 1 : 0;
    }
    this.numEvents = Math.floor(events / globalBatch) * this.batchSize;
    this.startEpoch(0);
  }

  startEpoch(epoch: number): void {
    const rng = new Rng(1000 + epoch);
    this.order = Array.from({ length: this.labels.length }, (_, i) => i);
    for (let i = this.order.length - 1; i > 0; i--) {
      const j = rng.nextUint32() % (i + 1);
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.cursor = 0;
  }

  async next(): Promise<EventBatch | null> {
    if (this.cursor + this.globalBatch > this.order.length) return null;
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    const start = this.cursor + this.rank * this.batchSize;
    const idx = this.order.slice(start, start + this.batchSize);
    this.cursor += this.globalBatch;
    const images = new Float32Array(idx.length * FEATURES);
    idx.forEach((e, i) => images.set(this.features.subarray(e * FEATURES, (e + 1) * FEATURES), i * FEATURES));
    return {
      images,
      shape: [idx.length, 4, 4, 1],
      layout: 'NHWC',
      label: Int32Array.from(idx.map((e) => this.labels[e])),
      normweight: new Float32Array(idx.length).fill(1),
      weight: new Float32Array(idx.length).fill(1),
      psr: new Uint8Array(idx.length),
    };
  }

  async close(): Promise<void> {}
}

/** The module's export: config keys `events` (default 2048), `hidden` (default 32), `delayMs` per training batch (default 0). */
export const training: UserTraining = {
  buildModel: (ctx: RankContext) => new ToyMlp(ctx.seed, Number(ctx.config.hidden ?? 32)),
  batchSource: (ctx) => {
    const events = Number(ctx.config.events ?? 2048);
    const globalBatch = ctx.batchSize * ctx.size;
    return ctx.split === 'train' ? new ToySource(events, globalBatch, ctx.rank, ctx.size, ctx.seed, Number(ctx.config.delayMs ?? 0)) : new ToySource(512, globalBatch, ctx.rank, ctx.size, ctx.seed + 1);
  },
};
