/**
 * A worker of parameter-server training: the training loop's update strategy
 * (`TrainLoopOptions.remoteUpdate`) in place of the local Adam. Each step it
 * pushes every server its slice of the gradients and takes back the slice's
 * weights after the server's update (sync: once the step's pushes are
 * aggregated; async: at once), so every step starts from fresh weights. The
 * chief (worker 0) sends the servers the initial state (or the checkpoint it
 * restored) and pulls weights and Adam moments for its checkpoints, which keep
 * the single-rank format. Protocol: parameter-server.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource } from '../data/types';
import type { Adam } from './adam';
import type { NamedVariable } from './checkpoint';
import { cappedSource, type CommunicationTotals, type RankSetup, type ResumePoint } from './data-parallel';
import type { ParameterServerStats } from './parameter-server';
import { checkLayout, exchangeSetup, modeLine, roleOf, shardRanges, type ParameterServerGroup, type ParameterServerLayout, type PeerMessage } from './ps-layout';

/** What the training loop calls in place of the local optimizer update (structural; ParameterServerWorker is one). */
export interface RemoteUpdate {
  /** the worker index (worker 0, the chief, logs and writes checkpoints) */
  readonly rank: number;
  /** the number of workers */
  readonly size: number;
  readonly totals: CommunicationTotals;
  prepare(source: BatchSource, log: (line: string) => void): Promise<BatchSource>;
  synchronize(named: NamedVariable[], optimizer: Adam, point: ResumePoint): Promise<ResumePoint>;
  /** update `variables` with this step's gradients (disposed here) and set `optimizer.step` to the global step */
  applyGradients(variables: tf.Variable[], gradients: tf.Tensor[], loss: tf.Scalar, step: number): Promise<{ loss: number; rankLoss: number; commMs: number; size: number; staleness?: number }>;
  /** the chief, before it writes a checkpoint: the servers' weights and Adam state into `variables` and `optimizer` */
  beforeCheckpoint(variables: tf.Variable[], optimizer: Adam): Promise<void>;
  /** after the last step: the final weights into `variables`, and the servers' counters */
  finish(variables: tf.Variable[]): Promise<ParameterServerStats[]>;
}

export interface ParameterServerWorkerOptions {
  group: ParameterServerGroup;
  layout: ParameterServerLayout;
  /** compared across the workers before training (config, shapes, package version, model) */
  setup: RankSetup;
}

export class ParameterServerWorker implements RemoteUpdate {
  readonly rank: number;
  readonly size: number;
  readonly totals: CommunicationTotals = { steps: 0, commMs: 0, valuesPerStep: 0 };
  private readonly group: ParameterServerGroup;
  private readonly layout: ParameterServerLayout;
  private ranges: [number, number][] = [];
  /** each server's global step when this worker last took its weights */
  private serverSteps: number[];
  private pushes = 0;
  private optimizer: Adam | null = null;

  constructor(private readonly opts: ParameterServerWorkerOptions) {
    this.group = opts.group;
    this.layout = checkLayout(opts.layout, opts.group.size);
    const me = roleOf(opts.group.rank, this.layout.numPs);
    if (me.role !== 'worker') throw new Error(`rank ${opts.group.rank} is a parameter server, not a worker (num_ps ${this.layout.numPs})`);
    this.rank = me.index;
    this.size = opts.group.size - this.layout.numPs;
    this.serverSteps = new Array(this.layout.numPs).fill(0);
  }

  async prepare(source: BatchSource, log: (line: string) => void): Promise<BatchSource> {
    const local = Math.floor(source.numEvents / source.batchSize);
    const { stepsPerEpoch } = await exchangeSetup(this.group, { role: 'worker', packageVersion: this.opts.setup.packageVersion, layout: this.layout, stepsPerEpoch: local, setup: this.opts.setup });
    if (stepsPerEpoch < 1) throw new Error(`a worker has fewer training events than one batch of ${source.batchSize}: every worker needs at least one`);
    log(modeLine(this.rank, this.layout.mode));
    const spares = this.layout.mode === 'sync' ? `, ${this.size - this.layout.numHotSpares} pushes per step (${this.layout.numHotSpares} hot spare${this.layout.numHotSpares === 1 ? '' : 's'})` : '';
    log(`Rank ${this.rank} : worker ${this.rank} of ${this.size} (rank ${this.group.rank}); ${this.layout.numPs} parameter server${this.layout.numPs === 1 ? '' : 's'} (ranks 0..${this.layout.numPs - 1})${spares}`);
    // sync: every worker pushes the same number of times per epoch, as with allreduce
    return this.layout.mode === 'sync' && stepsPerEpoch !== local ? cappedSource(source, stepsPerEpoch) : source;
  }

  async synchronize(named: NamedVariable[], optimizer: Adam, point: ResumePoint): Promise<ResumePoint> {
    this.optimizer = optimizer;
    const variables = named.map((n) => n.variable);
    const weights = concat(await Promise.all(variables.map((v) => v.data() as Promise<Float32Array>)));
    this.ranges = shardRanges(weights.length, this.layout.numPs);
    if (this.rank === 0) {
      const state = await optimizer.getState(variables);
      const [m, v] = [concat(state.m), concat(state.v)];
      await this.toServers((p, [a, b]) => ({
        meta: { type: 'init', total: weights.length, adamStep: state.step, resume: point },
        data: concat([weights.subarray(a, b), m.subarray(a, b), v.subarray(a, b)]),
      }));
    }
    const replies = await this.exchange('weights', () => ({ meta: { type: 'pull' } }));
    this.takeWeights(variables, replies);
    return replies[0].meta.resume as ResumePoint;
  }

  async applyGradients(variables: tf.Variable[], gradients: tf.Tensor[], loss: tf.Scalar, step: number) {
    const rankLoss = (await loss.data())[0];
    loss.dispose();
    let flat: Float32Array;
    try {
      flat = concat(await Promise.all(gradients.map((g) => g.data() as Promise<Float32Array>)));
    } finally {
      tf.dispose(gradients);
    }
    const start = performance.now();
    const replies = await this.exchange('weights', (p, [a, b]) => ({ meta: { type: 'push', step: this.serverSteps[p], loss: rankLoss }, data: flat.subarray(a, b) }));
    const commMs = performance.now() - start;
    this.pushes++;
    this.takeWeights(variables, replies);
    this.totals.steps++;
    this.totals.commMs += commMs;
    this.totals.valuesPerStep = flat.length;
    // sync: the mean loss of the pushes the step aggregated; async (or a dropped push): this worker's own
    const mean = this.layout.mode === 'sync' && replies[0].meta.applied ? Number(replies[0].meta.loss) : rankLoss;
    if (!Number.isFinite(mean)) throw new Error(`training loss became ${mean} at global step ${step + 1} (worker ${this.rank}: ${rankLoss}); lower the learning rate`);
    const staleness = Number(replies[0].meta.staleness ?? replies[0].meta.stale ?? 0);
    return { loss: mean, rankLoss, commMs, size: this.size, staleness };
  }

  async beforeCheckpoint(variables: tf.Variable[], optimizer: Adam): Promise<void> {
    const replies = await this.exchange('state', () => ({ meta: { type: 'state' } }));
    const parts = replies.map((r) => {
      const n = r.data!.length / 3;
      return [r.data!.subarray(0, n), r.data!.subarray(n, 2 * n), r.data!.subarray(2 * n)];
    });
    const [weights, m, v] = [0, 1, 2].map((k) => concat(parts.map((p) => p[k])));
    assignFlat(variables, weights);
    optimizer.setState(variables, { step: Number(replies[0].meta.adamStep), m: split(m, variables), v: split(v, variables) });
  }

  async finish(variables: tf.Variable[]): Promise<ParameterServerStats[]> {
    const replies = await this.exchange('bye', () => ({ meta: { type: 'done', pushes: this.pushes } }));
    assignFlat(variables, concat(replies.map((r) => r.data!)));
    return replies.map((r) => r.meta.stats as ParameterServerStats);
  }

  /** Send every server its message; each server's reply, of type `expected`, in server order. */
  private exchange(expected: string, build: (server: number, range: [number, number]) => PeerMessage): Promise<PeerMessage[]> {
    return this.named(async () => {
      const replies = this.ranges.map((_, p) => this.group.recv(p)); // posted before the request
      replies.forEach((r) => r.catch(() => undefined));
      await this.sendAll(build);
      const got = await Promise.all(replies);
      got.forEach((r, p) => {
        if (r.meta.type !== expected) throw new Error(`parameter server ${p} answered ${String(r.meta.type)} where ${expected} was due`);
      });
      return got;
    });
  }

  private toServers(build: (server: number, range: [number, number]) => PeerMessage): Promise<void> {
    return this.named(() => this.sendAll(build));
  }

  private async sendAll(build: (server: number, range: [number, number]) => PeerMessage): Promise<void> {
    await Promise.all(this.ranges.map((range, p) => this.group.send(p, build(p, range))));
  }

  /** A lost server fails the worker with an error that says which ranks are the servers. */
  private async named<T>(body: () => Promise<T>): Promise<T> {
    try {
      return await body();
    } catch (err) {
      const servers = this.layout.numPs === 1 ? 'rank 0 is the parameter server' : `ranks 0..${this.layout.numPs - 1} are the parameter servers`;
      throw new Error(`worker ${this.rank} (rank ${this.group.rank}) lost its parameter servers: ${(err as Error).message} (${servers})`);
    }
  }

  private takeWeights(variables: tf.Variable[], replies: PeerMessage[]): void {
    assignFlat(variables, concat(replies.map((r) => r.data!)));
    this.serverSteps = replies.map((r) => Number(r.meta.globalStep));
    if (this.optimizer) this.optimizer.step = this.serverSteps[0];
  }
}

function concat(arrays: Float32Array[]): Float32Array {
  const out = new Float32Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function split(flat: Float32Array, variables: tf.Variable[]): Float32Array[] {
  let at = 0;
  return variables.map((v) => flat.slice(at, (at += v.size)));
}

function assignFlat(variables: tf.Variable[], flat: Float32Array): void {
  const expected = variables.reduce((n, v) => n + v.size, 0);
  if (flat.length !== expected) throw new Error(`parameter servers sent ${flat.length} weights for ${expected} values`);
  split(flat, variables).forEach((values, i) => tf.tidy(() => variables[i].assign(tf.tensor(values, variables[i].shape, 'float32'))));
}

/** How a trainer takes part in parameter-server training (TrainOptions / UserTrainOptions.parameterServer). */
export interface ParameterServerTraining {
  group: ParameterServerGroup;
  layout: ParameterServerLayout;
}

/** The worker index and the number of workers of this rank (it must be a worker). */
export function workerPosition(ps: ParameterServerTraining): { rank: number; size: number } {
  const me = roleOf(ps.group.rank, ps.layout.numPs);
  if (me.role !== 'worker') throw new Error(`rank ${ps.group.rank} is a parameter server (num_ps ${ps.layout.numPs}): run serveParameters there, not a trainer`);
  return { rank: me.index, size: ps.group.size - ps.layout.numPs };
}
