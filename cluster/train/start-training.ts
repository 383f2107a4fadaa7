/**
 * `cluster.train(opts)`: one model trained on N engines, Horovod style.
 *
 * Rendezvous (contract A, no new controller messages): rank 0's task goes to
 * one engine first; it joins the group without a master and publishes its
 * listener with `report({ rendezvous })`; then ranks 1..N-1 go to distinct
 * engines with `master` set. Gradients then travel rank to rank; the client
 * only sees the ranks' reports (per-step loss, throughput, communication
 * time), which the handle aggregates per step into global figures.
 *
 * A rank that fails (its engine killed, say) makes the group fail: the other
 * ranks' collectives notice the lost peer and stop; the handle names the
 * rank, engine and host. With `restart: 'checkpoint'` the handle forms a new
 * group on the engines alive then (survivors and replacements) and continues
 * from rank 0's newest checkpoint.
 */
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { HepConfig } from '../../src/config/types';
import { resolveConfig, type EpochRecord, type UserRunConfig, type Warmup } from '../../src/train';
import type { Cluster } from '../client/cluster';
import { RemoteTaskError, type TaskHandle } from '../client/handles';
import type { EngineSummary } from '../protocol';
import type { HepRankOptions, RankJob, RankResult, RankTaskArgs } from './rank-task';
import { parameterServerLayout, roleLabel, type StrategyOptions } from './strategy';
import { TrainingDisplay } from './training-display';
import { TrainingProgress, type GlobalStep, type TrainingReport } from './training-progress';
import type { LiveOutputOptions } from '../../src/plots';

export interface TrainingOptions extends StrategyOptions {
  /** the HEP CNN: a config (object or path); a user module: its UserRunConfig (batchSize, learningRate, epochs, ...) */
  config: HepConfig | string | UserRunConfig;
  /** how many engines (the first alive ones with a free slot), 'all' (default), or a list of engine ids */
  engines?: number | 'all' | number[];
  /** 'checkpoint': when a rank fails, re-form the group on the engines alive and continue from the newest checkpoint */
  restart?: 'checkpoint' | 'none';
  /** restarts at most this many times (default 3) */
  maxRestarts?: number;
  /** learning rate × ranks after this warm-up (default {epochs: 5}, Horovod's) */
  warmup?: Warmup;
  /** 'linear' (default) or 'none' (the single-rank rate) */
  lrScaling?: 'linear' | 'none';
  /** fp16 halves the gradient bytes on the wire */
  compression?: 'none' | 'fp16';
  /** a user module (path) exporting `{ buildModel, batchSource }`, instead of the HEP CNN */
  module?: string;
  /** the module's export holding them (default 'training') */
  export?: string;
  /** output directory (checkpoints in models/, rank 0's logs in logs/); default the config's outputpath */
  output?: string;
  /** HEP CNN: override inputpath, num_epochs; stop at a global step; dummy data; gradient threads per rank */
  inputPath?: string;
  epochs?: number;
  maxSteps?: number;
  /** HEP config: when maxSteps stops the run inside an epoch, validate anyway (see train()'s validateAtStop) */
  validateAtStop?: boolean;
  dummyData?: boolean;
  threads?: number;
  /** steps between checkpoints of a user-module training (default once per epoch; HEP: the config's checkpoint_interval) */
  checkpointInterval?: number;
  /** ms to wait for rank 0's rendezvous address (default 60 s) */
  rendezvousTimeoutMs?: number;
  /** a silent rank is declared dead after this long (collectives' default when absent) */
  heartbeatTimeoutMs?: number;
  /** after a failure, wait this long for replacement engines before re-forming smaller (default 20 s) */
  replacementWaitMs?: number;
  /** progress lines (group formed, failures, restarts); default: stderr */
  log?: (line: string) => void;
}

export interface RankPlacement {
  rank: number;
  engineId: number;
  host: string;
  /** parameter-server strategy: 'parameter server 0', 'worker 0, the chief', ... */
  role?: string;
}

export interface TrainingOutcome {
  /** global step reached */
  steps: number;
  /** rank 0's epoch records (validation metrics are over every rank's events) */
  history: EpochRecord[];
  /** newest checkpoint manifest written by rank 0 */
  checkpoint?: string;
  /** the last group's ranks: result per rank (weights hash, throughput, communication) */
  ranks: RankResult[];
  /** every step's global figures (mean loss, summed throughput, communication ms) */
  globalSteps: GlobalStep[];
  /** groups formed (1 + restarts) */
  attempts: number;
  cancelled: boolean;
  seconds: number;
}

/** The ranks of one failed attempt, named. */
export class DistributedTrainingError extends Error {
  constructor(
    message: string,
    readonly failedRank: number,
    readonly engineId: number | null,
    readonly host: string | null,
    readonly causes: RemoteTaskError[],
  ) {
    super(message);
    this.name = 'DistributedTrainingError';
  }
}

function rankTaskModule(): string {
  const ext = path.extname(__filename) === '.ts' ? '.ts' : '.js';
  return path.join(__dirname, `rank-task${ext}`);
}

export class TrainingRun implements PromiseLike<TrainingOutcome> {
  readonly progress: TrainingProgress;
  /** placement of the current group's ranks */
  placement: RankPlacement[] = [];
  attempts = 0;
  private handles: TaskHandle<RankResult>[] = [];
  /** the rank that logs and checkpoints: 0, or the first worker with parameter servers */
  private chief = 0;
  private cancelled = false;
  private readonly outcome: Promise<TrainingOutcome>;
  private readonly log: (line: string) => void;
  private readonly started = Date.now();

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: TrainingOptions,
  ) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.progress = new TrainingProgress();
    this.outcome = this.run();
    this.outcome.catch(() => undefined); // awaited by the user; never an unhandled rejection
  }

  then<R1 = TrainingOutcome, R2 = never>(onOk?: ((v: TrainingOutcome) => R1 | PromiseLike<R1>) | null, onErr?: ((e: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.outcome.then(onOk, onErr);
  }

  catch<R = never>(onErr: (e: unknown) => R | PromiseLike<R>): Promise<TrainingOutcome | R> {
    return this.outcome.catch(onErr);
  }

  /** Every report of every rank, and the global figures once all ranks reported a step. */
  onReport(listener: (report: TrainingReport) => void): this {
    this.progress.onReport(listener);
    return this;
  }

  /** Live figures in the notebook cell: per-rank and global curves, throughput and communication. */
  display(title?: string, options?: LiveOutputOptions): TrainingDisplay {
    return new TrainingDisplay(this.progress, title, options);
  }

  /** Stop every rank now; `await run` then gives the history so far and the newest checkpoint. */
  async cancel(): Promise<void> {
    this.cancelled = true;
    await Promise.all(this.handles.map((h) => h.cancel().catch(() => undefined)));
  }

  private async run(): Promise<TrainingOutcome> {
    const job = buildJob(this.opts);
    const maxRestarts = this.opts.restart === 'checkpoint' ? (this.opts.maxRestarts ?? 3) : 0;
    let wanted = await this.chooseEngines(this.opts.engines ?? 'all');
    for (;;) {
      if (this.cancelled) return this.finish([], true);
      this.attempts++;
      try {
        const ranks = await this.runGroup(job, wanted, this.attempts > 1);
        return this.finish(ranks, false);
      } catch (err) {
        if (this.cancelled) return this.finish([], true);
        if (!(err instanceof DistributedTrainingError) || this.attempts > maxRestarts) throw err;
        this.log(`hpcdl train: ${err.message}`);
        const size = this.placement.length;
        this.progress.restarting(this.attempts, err.message);
        wanted = await this.enginesForRestart(size, err.engineId);
        this.log(`hpcdl train: restart ${this.attempts} of ${maxRestarts}: re-forming the group on engines ${wanted.join(', ')} from the newest checkpoint`);
      }
    }
  }

  private finish(ranks: RankResult[], cancelled: boolean): TrainingOutcome {
    const rank0 = ranks.find((r) => r.rank === this.chief);
    return {
      steps: rank0?.globalStep ?? this.progress.lastGlobalStep,
      history: rank0?.history ?? this.progress.rank0History(),
      checkpoint: rank0?.lastCheckpoint ?? this.progress.lastCheckpoint,
      ranks,
      globalSteps: this.progress.globalSteps,
      attempts: this.attempts,
      cancelled,
      seconds: (Date.now() - this.started) / 1000,
    };
  }

  /** One group: rendezvous, train, and the per-rank results (or a DistributedTrainingError). */
  private async runGroup(job: RankJob, engines: number[], resume: boolean): Promise<RankResult[]> {
    const size = engines.length;
    const summaries = new Map((await this.cluster.engines()).map((e) => [e.engine_id, e]));
    const layout = parameterServerLayout(this.opts, job, size);
    this.placement = engines.map((engineId, rank) => ({ rank, engineId, host: summaries.get(engineId)?.host ?? '?', ...(layout ? { role: roleLabel(layout, rank) } : {}) }));
    this.chief = layout?.numPs ?? 0;
    this.progress.chief = this.chief;
    // sync: a global step once the pushes it aggregates reported it; async: every push is its own step
    this.progress.stepReporters = layout ? (layout.mode === 'sync' ? size - layout.numPs - layout.numHotSpares : 1) : undefined;
    this.progress.newGroup(this.attempts, this.placement);
    const groupId = `train-${randomBytes(6).toString('hex')}`;
    const key = randomBytes(32).toString('hex'); // a per-job key: the cluster key never travels in task arguments
    const timeoutMs = this.opts.rendezvousTimeoutMs ?? 60_000;
    const argsFor = (rank: number, master?: string): RankTaskArgs => ({
      group: { groupId, rank, size, key, timeoutMs, ...(master ? { master } : {}) },
      job,
      resume,
      lrScaling: this.opts.lrScaling,
      warmup: this.opts.warmup,
      compression: this.opts.compression,
      heartbeatTimeoutMs: this.opts.heartbeatTimeoutMs,
      ...(layout ? { parameterServer: layout } : {}),
    });
    const submit = (rank: number, master?: string) => {
      const handle = this.cluster.engine(engines[rank]).submit<RankResult>({ module: rankTaskModule(), export: 'trainRank' }, argsFor(rank, master));
      handle.onReport((data, engineId) => this.progress.report(rank, data, engineId));
      void handle.settled.then((o) => this.progress.rankEnded(rank, o.ok, o.ok ? undefined : o.error.message));
      this.handles[rank] = handle;
      return handle;
    };
    this.handles = [];
    const rank0 = submit(0);
    if (size > 1) {
      // a group of one has no listener to publish
      const master = await this.rendezvous(rank0, timeoutMs);
      if (this.cancelled) {
        await rank0.cancel();
        throw this.failure([{ rank: 0, error: new Error('cancelled during the rendezvous') }]);
      }
      for (let rank = 1; rank < size; rank++) submit(rank, master);
      this.log(`hpcdl train: group ${groupId} of ${size} ranks on engines ${engines.join(', ')} (rank 0 listens on ${master})`);
    }
    return this.awaitRanks();
  }

  private rendezvous(rank0: TaskHandle<RankResult>, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let published = false;
      const timer = setTimeout(() => {
        void rank0.cancel();
        reject(this.failure([{ rank: 0, error: new Error(`rank 0 published no rendezvous address within ${timeoutMs / 1000} s (is engine ${this.placement[0].engineId} busy with another task?)`) }]));
      }, timeoutMs);
      rank0.onReport((data) => {
        if (typeof data.rendezvous === 'string') {
          published = true;
          clearTimeout(timer);
          resolve(data.rendezvous);
        }
      });
      void rank0.settled.then((o) => {
        clearTimeout(timer);
        if (!o.ok && !published) reject(this.failure([{ rank: 0, error: o.error }])); // later failures: awaitRanks
      });
    });
  }

  /** Wait for every rank; on the first failure give the others a moment to fail by themselves, then stop them. */
  private async awaitRanks(): Promise<RankResult[]> {
    const handles = this.handles;
    const failures: { rank: number; error: Error }[] = [];
    let firstFailure: (() => void) | null = null;
    const failed = new Promise<void>((resolve) => (firstFailure = resolve));
    const settledAll = Promise.all(
      handles.map((h, rank) =>
        h.settled.then((o) => {
          if (!o.ok) {
            failures.push({ rank, error: o.error });
            firstFailure?.();
          }
          return o;
        }),
      ),
    );
    // the collectives stop the surviving ranks within their heartbeat timeout; cancel stragglers after that
    const grace = (this.opts.heartbeatTimeoutMs ?? 10_000) + 2_000;
    await Promise.race([settledAll, failed.then(() => Promise.race([settledAll, sleep(grace)]))]);
    if (failures.length === 0) {
      const outcomes = await settledAll;
      return outcomes.map((o) => (o as { ok: true; value: RankResult }).value);
    }
    await Promise.all(handles.map((h) => h.cancel().catch(() => undefined)));
    await settledAll;
    throw this.failure(failures);
  }

  /**
   * Name the rank that failed first for its own reason: a rank whose engine died, or whose
   * error is not about losing a peer; the others' errors are the consequence.
   */
  private failure(failures: { rank: number; error: Error }[]): DistributedTrainingError {
    const cancelled = (e: Error) => e instanceof RemoteTaskError && e.cancelled;
    const real = failures.filter((f) => !cancelled(f.error));
    const engineDied = real.find((f) => f.error instanceof RemoteTaskError && /engine|died|lost|exited|killed/i.test(f.error.ename + f.error.evalue) && !/peer|rank \d+/i.test(f.error.evalue));
    const primary = engineDied ?? real.find((f) => !/peer|rank \d+ (died|lost|left|closed|disconnected|failed)/i.test(f.error.message)) ?? real[0] ?? failures[0];
    const place = this.placement[primary.rank];
    const detail = primary.error instanceof RemoteTaskError ? `${primary.error.ename}: ${primary.error.evalue}` : primary.error.message;
    const others = real.filter((f) => f !== primary).map((f) => `rank ${f.rank}: ${f.error instanceof RemoteTaskError ? f.error.evalue : f.error.message}`);
    const message =
      `distributed training failed at rank ${primary.rank} (${place?.role ? `${place.role}, ` : ''}engine ${place?.engineId ?? '?'} on host ${place?.host ?? '?'}): ${detail}` +
      (others.length ? ` | the other ranks stopped: ${others.join(' | ')}` : '');
    this.progress.failed(message);
    return new DistributedTrainingError(message, primary.rank, place?.engineId ?? null, place?.host ?? null, failures.map((f) => f.error).filter((e): e is RemoteTaskError => e instanceof RemoteTaskError));
  }

  private async chooseEngines(spec: number | 'all' | number[]): Promise<number[]> {
    const engines = (await this.cluster.engines()).filter((e) => e.state === 'alive');
    const alive = new Set(engines.map((e) => e.engine_id));
    if (Array.isArray(spec)) {
      const missing = spec.filter((id) => !alive.has(id));
      if (missing.length) throw new Error(`cluster.train: engines ${missing.join(', ')} are not alive (alive: ${[...alive].join(', ') || 'none'})`);
      if (new Set(spec).size !== spec.length) throw new Error(`cluster.train: engines lists an engine twice: ${spec.join(', ')}`);
      if (spec.length === 0) throw new Error('cluster.train: engines is an empty list');
      return spec;
    }
    const ordered = orderByFreeSlots(engines);
    if (spec === 'all') {
      if (ordered.length === 0) throw new Error(`cluster.train: no engines are alive at ${this.cluster.url}`);
      return ordered;
    }
    if (!Number.isInteger(spec) || spec < 1) throw new Error(`cluster.train: engines must be a positive integer, 'all' or a list of ids, got ${JSON.stringify(spec)}`);
    if (ordered.length < spec) throw new Error(`cluster.train: ${spec} engines wanted, ${ordered.length} alive at ${this.cluster.url}`);
    return ordered.slice(0, spec);
  }

  /** The engines of the next attempt: up to `size` alive engines, waiting a while for replacements. */
  private async enginesForRestart(size: number, deadEngine: number | null): Promise<number[]> {
    const deadline = Date.now() + (this.opts.replacementWaitMs ?? 20_000);
    let alive: EngineSummary[] = [];
    for (;;) {
      alive = (await this.cluster.engines()).filter((e) => e.state === 'alive' && e.engine_id !== deadEngine);
      if (alive.length >= size || Date.now() >= deadline) break;
      await sleep(250);
    }
    if (alive.length === 0) throw new Error('cluster.train: no engine left to restart the training on');
    if (alive.length < size) this.log(`hpcdl train: only ${alive.length} of ${size} engines alive; continuing with ${alive.length} ranks`);
    return orderByFreeSlots(alive).slice(0, size);
  }
}

function orderByFreeSlots(engines: EngineSummary[]): number[] {
  return [...engines].sort((a, b) => b.slots - b.running - (a.slots - a.running) || a.engine_id - b.engine_id).map((e) => e.engine_id);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What each rank runs: the HEP CNN from a resolved config, or a user module. */
function buildJob(opts: TrainingOptions): RankJob {
  if (opts.module) {
    const config = opts.config as UserRunConfig;
    if (!config || typeof config !== 'object') throw new Error('cluster.train: with module, config is the module\'s run config {batchSize, learningRate, epochs, ...}');
    const output = path.resolve(opts.output ?? 'distributed-training');
    return {
      kind: 'module',
      module: path.resolve(opts.module),
      export: opts.export ?? 'training',
      config: opts.maxSteps !== undefined ? { ...config, maxSteps: opts.maxSteps } : config,
      outputDir: output,
      checkpointInterval: opts.checkpointInterval,
    };
  }
  const given = opts.config as HepConfig | string;
  const config = resolveConfig({
    ...(typeof given === 'string' ? { configPath: given } : { config: given }),
    epochs: opts.epochs,
    outputDir: opts.output ? path.resolve(opts.output) : undefined,
    inputPath: opts.inputPath ? path.resolve(opts.inputPath) : undefined,
    log: () => undefined,
  });
  const train: HepRankOptions = {
    config: { ...config, outputpath: path.resolve(config.outputpath), inputpath: path.resolve(config.inputpath) },
    maxSteps: opts.maxSteps,
    validateAtStop: opts.validateAtStop,
    dummyData: opts.dummyData,
    threads: opts.threads,
  };
  return { kind: 'hep', train };
}

/** `cluster.train(opts)`. */
export function startTraining(cluster: Cluster, opts: TrainingOptions): TrainingRun {
  return new TrainingRun(cluster, opts);
}
