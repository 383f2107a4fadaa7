/**
 * Horovod-style data parallelism for the training loop: rank 0's weights and
 * optimizer state are broadcast before the first step, every rank trains on
 * its own shard, the gradients of every step are averaged with ONE fused
 * allreduce, the learning rate is scaled by the number of ranks after a
 * warm-up, and validation metrics are computed over every rank's predictions.
 *
 * src/ knows nothing of the cluster: `DataParallelGroup` is the part of a
 * process group this needs (cluster/collectives' ProcessGroup satisfies it,
 * so does `LocalGroup` for ranks inside one process).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource } from '../data/types';
import type { Adam } from './adam';
import type { NamedVariable } from './checkpoint';
import { emptyPredictions, type Predictions } from './evaluate';

/** The per-event columns gathered for validation, packed as float32 (labels and flags are small integers, exact in float32). */
const PREDICTION_COLUMNS = ['label', 'score', 'crossEntropy', 'weight', 'normweight', 'psr'] as const;

export type GradientCompression = 'none' | 'fp16';

/** The collectives data-parallel training needs (a subset of cluster/collectives' ProcessGroup). */
export interface DataParallelGroup {
  readonly rank: number;
  readonly size: number;
  allreduceMany(arrays: Float32Array[], opts?: { op?: 'sum' | 'mean'; compression?: GradientCompression }): Promise<Float32Array[]>;
  broadcast(data: Float32Array, root?: number): Promise<Float32Array>;
  allgather(data: Float32Array): Promise<Float32Array[]>;
  allgatherJson<T>(value: T): Promise<T[]>;
  readonly stats?: { bytesSent: number; bytesReceived: number; commMs: number; calls: number };
}

/**
 * Learning-rate warm-up (Goyal et al. 2017, Horovod's LearningRateWarmupCallback): the rate
 * rises linearly from the single-rank rate to `size ×` it over this many epochs or steps.
 */
export type Warmup = { epochs: number } | { steps: number };

/** Horovod's LearningRateWarmupCallback default (warmup_epochs=5), also Goyal et al.'s choice. */
export const DEFAULT_WARMUP: Warmup = { epochs: 5 };

export interface DataParallelOptions {
  group: DataParallelGroup;
  /** 'linear' (default): learning rate × size after the warm-up; 'none': unchanged */
  lrScaling?: 'linear' | 'none';
  warmup?: Warmup;
  /** fp16 halves the allreduce's bytes on the wire (the sums stay fp32) */
  compression?: GradientCompression;
}

/** What every rank must agree on before training (compared with allgatherJson). */
export interface RankSetup {
  /** the training config (or a user module's options), compared key by key */
  config?: Record<string, unknown>;
  /** variable name → shape */
  shapes: Record<string, number[]>;
  packageVersion: string;
  model?: string;
}

export interface CommunicationTotals {
  steps: number;
  /** time inside the gradient allreduce (including waiting for the slowest rank) */
  commMs: number;
  /** float32 values averaged per step */
  valuesPerStep: number;
}

/** Where one loop resumes: the global step, and the epoch/batch to continue from. */
export interface ResumePoint {
  globalStep: number;
  firstEpoch: number;
  skipBatches: number;
}

export class DataParallel {
  readonly group: DataParallelGroup;
  readonly lrScaling: 'linear' | 'none';
  readonly warmup: Warmup;
  readonly compression: GradientCompression;
  readonly totals: CommunicationTotals = { steps: 0, commMs: 0, valuesPerStep: 0 };

  constructor(opts: DataParallelOptions) {
    this.group = opts.group;
    this.lrScaling = opts.lrScaling ?? 'linear';
    this.warmup = opts.warmup ?? DEFAULT_WARMUP;
    this.compression = opts.compression ?? 'none';
    if (this.lrScaling !== 'linear' && this.lrScaling !== 'none') throw new Error(`lrScaling must be 'linear' or 'none', got ${JSON.stringify(this.lrScaling)}`);
    const w = this.warmup as { epochs?: number; steps?: number };
    const amount = w.epochs ?? w.steps;
    if (typeof amount !== 'number' || !(amount >= 0) || (w.epochs !== undefined && w.steps !== undefined)) {
      throw new Error(`warmup must be {epochs: n} or {steps: n} with n ≥ 0, got ${JSON.stringify(opts.warmup)}`);
    }
    if (this.compression !== 'none' && this.compression !== 'fp16') throw new Error(`compression must be 'none' or 'fp16', got ${JSON.stringify(this.compression)}`);
  }

  get rank(): number {
    return this.group.rank;
  }

  get size(): number {
    return this.group.size;
  }

  /** Learning-rate factor of the update leaving global step `step` (1 → size over the warm-up). */
  learningRateScale(stepsPerEpoch: number): (step: number) => number {
    const size = this.size;
    if (this.lrScaling === 'none' || size === 1) return () => 1;
    const w = this.warmup as { epochs?: number; steps?: number };
    const warmupSteps = w.steps ?? Math.round((w.epochs ?? 0) * stepsPerEpoch);
    return (step) => (step >= warmupSteps ? size : 1 + ((size - 1) * step) / warmupSteps);
  }

  /**
   * Make every rank train the same number of steps per epoch (the smallest shard decides; a
   * rank that ran out of batches while others still allreduce would hang them), and install
   * the learning-rate scale on the optimizer. Returns the source the loop should read.
   */
  async prepare(source: BatchSource, optimizer: Adam, log: (line: string) => void): Promise<BatchSource> {
    const local = Math.floor(source.numEvents / source.batchSize);
    const all = await this.group.allgatherJson(local);
    const steps = Math.min(...all);
    if (steps < 1) {
      const empty = all.map((s, r) => [s, r]).filter(([s]) => s < 1).map(([, r]) => r);
      throw new Error(`rank${empty.length > 1 ? 's' : ''} ${empty.join(', ')} ha${empty.length > 1 ? 've' : 's'} fewer training events than one batch of ${source.batchSize}: every rank needs at least one`);
    }
    if (this.rank === 0 && all.some((s) => s !== steps)) {
      log(`Rank 0 : shards differ in size (${all.join(', ')} batches per rank); every rank trains ${steps} steps per epoch`);
    }
    optimizer.scale = this.learningRateScale(steps);
    if (this.rank === 0 && this.lrScaling === 'linear' && this.size > 1) {
      const w = this.warmup as { epochs?: number; steps?: number };
      const over = w.steps !== undefined ? `${w.steps} steps` : `${w.epochs} epochs (${Math.round((w.epochs ?? 0) * steps)} steps)`;
      log(`Rank 0 : learning rate scaled by ${this.size} ranks after a linear warm-up over ${over}`);
    }
    // capped even when this rank's count is the smallest: a source may yield a batch more than
    // numEvents / batchSize says, and every rank must make the same number of allreduces
    return cappedSource(source, steps);
  }

  /**
   * Rank 0's weights, Adam moments and resume point, broadcast to every rank before step 1
   * (Horovod's BroadcastGlobalVariablesHook(0), plus the optimizer state so a restart from a
   * checkpoint continues identically everywhere).
   */
  async synchronize(named: NamedVariable[], optimizer: Adam, point: ResumePoint): Promise<ResumePoint> {
    const variables = named.map((n) => n.variable);
    const [rootPoint] = await this.group.allgatherJson(this.rank === 0 ? { ...point, adamStep: optimizer.step } : null);
    const state = await optimizer.getState(variables);
    const weights = await Promise.all(variables.map((v) => v.data() as Promise<Float32Array>));
    const parts = [...weights, ...state.m, ...state.v];
    const total = parts.reduce((n, p) => n + p.length, 0);
    const flat = new Float32Array(total);
    let offset = 0;
    for (const p of parts) {
      flat.set(p, offset);
      offset += p.length;
    }
    await this.group.broadcast(flat, 0);
    const slice = (i: number) => {
      let start = 0;
      for (let j = 0; j < i; j++) start += parts[j].length;
      return flat.slice(start, start + parts[i].length);
    };
    const n = variables.length;
    variables.forEach((v, i) => tf.tidy(() => v.assign(tf.tensor(slice(i), v.shape, 'float32'))));
    const root = rootPoint as ResumePoint & { adamStep: number };
    optimizer.setState(variables, {
      step: root.adamStep,
      m: variables.map((_, i) => slice(n + i)),
      v: variables.map((_, i) => slice(2 * n + i)),
    });
    return { globalStep: root.globalStep, firstEpoch: root.firstEpoch, skipBatches: root.skipBatches };
  }

  /**
   * Average the gradients of every rank with one fused allreduce; the step's loss rides in the
   * same buffer, so every rank also learns the global mean loss.
   */
  async averageGradients(gradients: tf.Tensor[], loss: number): Promise<{ gradients: tf.Tensor[]; loss: number; commMs: number }> {
    if (this.size === 1) {
      this.totals.steps++; // a group of one: nothing to average, and no copies (a fair 1-rank baseline)
      return { gradients, loss, commMs: 0 };
    }
    const arrays = await Promise.all(gradients.map((g) => g.data() as Promise<Float32Array>));
    // tfjs may hand out its own buffer: the allreduce writes in place, so work on copies
    const buffers = arrays.map((a) => Float32Array.from(a));
    buffers.push(Float32Array.of(loss));
    const start = performance.now();
    await this.group.allreduceMany(buffers, { op: 'mean', compression: this.compression });
    const commMs = performance.now() - start;
    this.totals.steps++;
    this.totals.commMs += commMs;
    this.totals.valuesPerStep = buffers.reduce((n, b) => n + b.length, 0);
    const averaged = gradients.map((g, i) => tf.tensor(buffers[i], g.shape, 'float32'));
    return { gradients: averaged, loss: buffers[buffers.length - 1][0], commMs };
  }

  /** Every rank's validation predictions (so loss, accuracy and AUC are those of the union, exactly). */
  async gatherPredictions(p: Predictions): Promise<Predictions> {
    const width = PREDICTION_COLUMNS.length;
    const n = p.label.length;
    const packed = new Float32Array(n * width);
    PREDICTION_COLUMNS.forEach((column, c) => p[column].forEach((value, i) => (packed[i * width + c] = value)));
    const parts = await this.group.allgather(packed);
    const out = emptyPredictions(parts.reduce((a, b) => a + b.length / width, 0));
    let k = 0;
    for (const part of parts) {
      for (let i = 0; i < part.length; i += width, k++) PREDICTION_COLUMNS.forEach((column, c) => (out[column][k] = part[i + c]));
    }
    return out;
  }

  /** Refuse to train when the ranks disagree on the config, the model's shapes or the package version. */
  async assertSameSetup(setup: RankSetup): Promise<void> {
    const all = await this.group.allgatherJson(setup);
    const problems = setupDifferences(all);
    if (problems.length > 0) throw new Error(`the ranks of this training differ, refusing to start: ${problems.join('; ')}`);
  }
}

/** Human-readable differences between the ranks' setups (empty when they agree). */
export function setupDifferences(setups: RankSetup[]): string[] {
  const problems: string[] = [];
  const [first] = setups;
  setups.forEach((s, rank) => {
    if (rank === 0) return;
    if (s.packageVersion !== first.packageVersion) problems.push(`package version: rank 0 has ${first.packageVersion}, rank ${rank} has ${s.packageVersion}`);
    if (s.model !== first.model) problems.push(`model: rank 0 builds ${first.model}, rank ${rank} builds ${s.model}`);
    for (const key of unionKeys(first.config ?? {}, s.config ?? {})) {
      const a = JSON.stringify((first.config ?? {})[key]);
      const b = JSON.stringify((s.config ?? {})[key]);
      if (a !== b) problems.push(`config field "${key}": rank 0 has ${a ?? 'nothing'}, rank ${rank} has ${b ?? 'nothing'}`);
    }
    for (const name of unionKeys(first.shapes, s.shapes)) {
      const a = first.shapes[name];
      const b = s.shapes[name];
      if (JSON.stringify(a) !== JSON.stringify(b)) {
        problems.push(`parameter ${name}: rank 0 has ${a ? `shape [${a}]` : 'no such parameter'}, rank ${rank} has ${b ? `shape [${b}]` : 'no such parameter'}`);
      }
    }
  });
  return problems;
}

function unionKeys(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
}

/** `source` limited to `steps` batches per epoch. */
export function cappedSource(source: BatchSource, steps: number): BatchSource {
  let served = 0;
  return {
    batchSize: source.batchSize,
    numEvents: steps * source.batchSize,
    async next() {
      if (served >= steps) return null;
      served++;
      return source.next();
    },
    startEpoch(epoch: number) {
      served = 0;
      source.startEpoch(epoch);
    },
    recycle: source.recycle ? (batch) => source.recycle!(batch) : undefined,
    close: () => source.close(),
  };
}
