import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource, EventBatch } from '../../src/data/types';
import type { TrainableModel } from '../../src/model/types';

/**
 * A user's own model, to show the loop is generic: per-channel image means
 * → a dense layer to two logits. No dropout, so runs are deterministic.
 */
export class ChannelMeanModel implements TrainableModel {
  readonly name = 'channel-mean';
  readonly inputLayout = 'NHWC' as const;
  readonly variables: tf.Variable[];
  logitsCalls = 0;

  constructor(channels = 3, seedValues = [0.1, -0.2, 0.05, 0.3, -0.1, 0.2]) {
    const w = tf.tensor2d(seedValues.slice(0, channels * 2), [channels, 2]);
    this.variables = [tf.variable(w, true, `cm_w_${ChannelMeanModel.count}`), tf.variable(tf.zeros([2]), true, `cm_b_${ChannelMeanModel.count++}`)];
  }
  private static count = 0;

  logits(images: tf.Tensor4D, _training: boolean): tf.Tensor2D {
    this.logitsCalls++;
    return tf.tidy(() => tf.add(tf.matMul(tf.mean(images, [1, 2]) as tf.Tensor2D, this.variables[0] as tf.Tensor2D), this.variables[1]));
  }

  dispose(): void {
    for (const v of this.variables) v.dispose();
  }
}

/**
 * In-memory events: signal has a brighter channel 0. Deterministic order per
 * epoch (a permutation seeded by the epoch), so restarts can be compared.
 */
export class MemorySource implements BatchSource {
  readonly numEvents: number;
  private order: number[] = [];
  private cursor = 0;
  readonly labels: Int32Array;
  private readonly images: Float32Array;
  constructor(
    readonly batchSize: number,
    events: number,
    private readonly layout: 'NCHW' | 'NHWC' = 'NHWC',
    private readonly hw = 4,
    seed = 7,
  ) {
    this.numEvents = events;
    this.labels = new Int32Array(events);
    const pixels = 3 * hw * hw;
    this.images = new Float32Array(events * pixels);
    let state = seed;
    const rand = () => ((state = (state * 1103515245 + 12345) % 2147483648) / 2147483648);
    for (let e = 0; e < events; e++) {
      const label = e % 2;
      this.labels[e] = label;
      for (let p = 0; p < pixels; p++) {
        const channel = layout === 'NHWC' ? p % 3 : Math.floor(p / (hw * hw));
        this.images[e * pixels + p] = rand() + (channel === 0 && label === 1 ? 0.6 : 0);
      }
    }
    this.startEpoch(0);
  }

  startEpoch(epoch: number): void {
    this.order = Array.from({ length: this.numEvents }, (_, i) => i);
    let state = epoch + 1;
    for (let i = this.order.length - 1; i > 0; i--) {
      state = (state * 1103515245 + 12345) % 2147483648;
      const j = state % (i + 1);
      [this.order[i], this.order[j]] = [this.order[j], this.order[i]];
    }
    this.cursor = 0;
  }

  async next(): Promise<EventBatch | null> {
    if (this.cursor + this.batchSize > this.numEvents) return null;
    const idx = this.order.slice(this.cursor, this.cursor + this.batchSize);
    this.cursor += this.batchSize;
    const pixels = 3 * this.hw * this.hw;
    const images = new Float32Array(idx.length * pixels);
    idx.forEach((e, i) => images.set(this.images.subarray(e * pixels, (e + 1) * pixels), i * pixels));
    const shape: [number, number, number, number] =
      this.layout === 'NHWC' ? [idx.length, this.hw, this.hw, 3] : [idx.length, 3, this.hw, this.hw];
    return {
      images,
      shape,
      layout: this.layout,
      label: Int32Array.from(idx.map((e) => this.labels[e])),
      normweight: new Float32Array(idx.length).fill(1),
      weight: Float32Array.from(idx.map((e) => (this.labels[e] ? 0.01 : 1))),
      psr: Uint8Array.from(idx.map((e) => (this.labels[e] ? 1 : 0))),
    };
  }

  async close(): Promise<void> {}
}

export async function variableValues(vars: tf.Variable[]): Promise<number[][]> {
  return Promise.all(vars.map(async (v) => Array.from(await v.data())));
}
