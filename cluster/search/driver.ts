/**
 * The study driver: keeps every engine slot busy with trials of an IO-free
 * `Study`. It asks the study for as many trials as there are free slots,
 * submits each (one task per fold) through the load-balanced view, streams
 * the tasks' `report()`s into `study.report`, cancels a trial the pruner
 * stops, retries a failed trial once away from the engine it failed on, and
 * marks NaN losses and chance-level scores as failed_to_converge.
 */
import * as path from 'node:path';
import type { Study } from '../../src/hpo/study';
import type { Direction, Trial } from '../../src/hpo/types';
import type { Cluster } from '../client/cluster';
import type { TaskHandle } from '../client/handles';
import { startGroupTrial } from './group-trial';
import type { ResolvedObjective } from './objective';
import type { ObjectiveContext, ObjectiveResult, TrialEvent } from './types';

export interface DriverSettings {
  metric: string;
  direction: Direction;
  folds: number;
  /** cap on concurrent tasks (null: every engine slot) */
  maxParallel: number | null;
  dir: string;
  seed: number;
  chance?: number;
  /** false: no chance-level check at all (also not the objective's own `chance`) */
  chanceCheck: boolean;
  chanceTolerance: number;
  timeoutMs?: number;
  /** attempts per trial before it stays failed (the issue: retried once) */
  maxAttempts: number;
  /** engines per trial: > 1 trains each trial with cluster.train on that many free engines */
  enginesPerTrial?: number;
}

/** What the driver needs of a trial's task: a TaskHandle, or a data-parallel trial's TrainingRun (group-trial.ts). */
type RunHandle = Pick<TaskHandle<unknown>, 'cancel' | 'engineId' | 'submittedAt' | 'finishedAt'>;

/** One task of a trial (the whole trial, or one fold). */
interface FoldRun {
  fold: number;
  handle: RunHandle;
  engine: number | null;
  /** a data-parallel trial's engines (busy until it settles) */
  engines?: number[];
  startedAt: number | null;
  done: boolean;
  value?: number;
  checkpoint?: string;
  chance?: number;
  /** step → metric value, for the fold mean */
  steps: Map<number, number>;
  metrics: Map<number, Record<string, number>>;
}

interface ActiveTrial {
  trial: Trial;
  runs: FoldRun[];
  /** set once the trial ended (pruned, diverged, failed, complete): later task outcomes are ignored */
  ended: boolean;
  reportedSteps: Set<number>;
}

/** Busy time of one task on its engine (for the utilisation figure). */
export interface TaskSpan {
  trial: number;
  fold: number;
  engine: number | null;
  start: number;
  end: number;
  outcome: 'ok' | 'error' | 'cancelled';
}

/** Non-finite values of these report keys mean the training diverged. */
const LOSS_KEYS = ['loss', 'train_loss', 'val_loss'];

export class SearchDriver {
  readonly spans: TaskSpan[] = [];
  /** checkpoint (manifest or directory) of each trial, from its objective's result */
  readonly checkpoints = new Map<number, string>();
  /** trials with tasks still out (a retried trial may briefly have two entries: the old one's cancelled folds still settling) */
  private readonly active = new Set<ActiveTrial>();
  /** engines a trial's failed attempts ran on */
  private readonly avoid = new Map<number, number[]>();
  private readonly listeners = new Set<(event: TrialEvent) => void>();
  private capacity = 0;
  private stopping = false;
  private failure: Error | null = null;
  private settleDone!: () => void;
  private readonly done = new Promise<void>((resolve) => (this.settleDone = resolve));
  private unsubscribeEngines: (() => void) | null = null;
  private filling = false;
  /** alive engines (data-parallel trials pick theirs among them) */
  private alive: number[] = [];
  /** engines a data-parallel trial holds */
  private readonly busy = new Set<number>();

  constructor(
    private readonly cluster: Cluster,
    readonly study: Study,
    private readonly objective: ResolvedObjective,
    readonly settings: DriverSettings,
  ) {}

  onTrial(listener: (event: TrialEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Runs until the study is done (or cancelled); rejects only on a driver fault. */
  async run(): Promise<void> {
    await this.refreshCapacity();
    const k = this.enginesPerTrial;
    if (k > 1 && this.alive.length < k) throw new Error(`search: engines: ${k} per trial, but only ${this.alive.length} engine(s) are alive`);
    this.unsubscribeEngines = this.cluster.onEngineEvent(() => {
      void this.refreshCapacity().then(() => this.fill());
    });
    this.fill();
    await this.done;
    this.unsubscribeEngines?.();
    if (this.failure) throw this.failure;
  }

  /** Stop asking for trials and cancel the running ones (they stay 'running' in the journal, so a resume re-queues them). */
  async cancel(): Promise<void> {
    this.stopping = true;
    const open = [...this.active].flatMap((a) => a.runs.filter((r) => !r.done).map((r) => r.handle));
    await Promise.all(open.map((h) => h.cancel().catch(() => undefined)));
    this.checkFinished();
  }

  get runningTasks(): number {
    let n = 0;
    for (const a of this.active) for (const r of a.runs) if (!r.done) n++;
    return n;
  }

  trialDir(id: number, fold?: number): string {
    const dir = path.join(this.settings.dir, `trial-${id}`);
    return this.settings.folds > 1 && fold !== undefined ? path.join(dir, `fold-${fold}`) : dir;
  }

  // ------------------------------------------------------------- scheduling

  get enginesPerTrial(): number {
    return this.settings.enginesPerTrial ?? 1;
  }

  private async refreshCapacity(): Promise<void> {
    try {
      const engines = await this.cluster.engines();
      this.alive = engines.filter((e) => e.state === 'alive').map((e) => e.engine_id);
      this.capacity = engines.filter((e) => e.state === 'alive').reduce((n, e) => n + Math.max(1, e.slots ?? 1), 0);
    } catch {
      this.capacity = this.cluster.engineIds.length;
      this.alive = [...this.cluster.engineIds];
    }
    if (this.settings.maxParallel !== null) this.capacity = Math.min(this.capacity, this.settings.maxParallel);
  }

  /** Ask the study for as many trials as there are free slots and submit them. */
  private fill(): void {
    if (this.stopping || this.filling) return;
    this.filling = true;
    try {
      const folds = this.settings.folds;
      const k = this.enginesPerTrial;
      let wanted: number;
      if (k > 1) {
        // a data-parallel trial waits until k engines are free; the others keep running trials
        wanted = Math.floor(this.alive.filter((id) => !this.busy.has(id)).length / k);
        if (this.settings.maxParallel !== null) wanted = Math.min(wanted, this.settings.maxParallel - this.runningTasks);
      } else {
        const free = this.capacity - this.runningTasks;
        wanted = Math.floor(free / folds);
        // a trial with more folds than slots still runs (its folds queue)
        if (wanted === 0 && free > 0 && this.active.size === 0) wanted = 1;
      }
      if (wanted > 0) {
        for (const trial of this.study.ask(wanted)) this.start(trial);
      }
    } catch (err) {
      this.failure = new Error(`search: the study failed to propose trials: ${(err as Error).message}`);
      this.stopping = true;
      void this.cancel();
    } finally {
      this.filling = false;
    }
    this.checkFinished();
  }

  private checkFinished(): void {
    if (this.active.size > 0) return;
    if (this.stopping || this.study.done) this.settleDone();
    // else: no free slot yet (no engine alive); an engine event calls fill again
  }

  private start(trial: Trial): void {
    const entry: ActiveTrial = { trial, runs: [], ended: false, reportedSteps: new Set() };
    this.active.add(entry);
    const avoid = this.avoid.get(trial.id) ?? [];
    if (this.enginesPerTrial > 1) {
      this.startGroup(entry, avoid);
      return;
    }
    const others = this.cluster.engineIds.filter((id) => !avoid.includes(id));
    for (let fold = 0; fold < this.settings.folds; fold++) {
      const ctx: ObjectiveContext = {
        trial: trial.id,
        fold,
        folds: this.settings.folds,
        dir: this.trialDir(trial.id, fold),
        seed: this.settings.seed + trial.id,
        metric: this.settings.metric,
        direction: this.settings.direction,
        ...(this.objective.hep ? { hep: this.objective.hep } : {}),
      };
      const args = [trial.params, ctx];
      const options = this.settings.timeoutMs ? { timeoutMs: this.settings.timeoutMs } : {};
      // A retry goes to the other engines (load-balanced among them) when there are any.
      const view = avoid.length > 0 && others.length > 0 ? this.cluster.balanced(options).among(others) : this.cluster.balanced(options);
      const handle = view.submit<unknown>(this.objective.task, ...args);
      const run: FoldRun = { fold, handle, engine: null, startedAt: null, done: false, steps: new Map(), metrics: new Map() };
      entry.runs.push(run);
      handle.onStatus((status) => {
        if (status !== 'running' || run.startedAt !== null) return;
        run.startedAt = Date.now();
        run.engine = handle.engineId;
        if (fold === 0 && handle.engineId !== null && !entry.ended) this.study.assign(trial.id, handle.engineId);
      });
      handle.onReport((data, engineId) => this.onReport(entry, run, data, engineId));
      void handle.settled.then((outcome) => this.onSettled(entry, run, outcome));
    }
    this.emit({ kind: 'started', trial });
  }

  /** A data-parallel trial: cluster.train on k free engines (a retry prefers engines its failed attempts did not use). */
  private startGroup(entry: ActiveTrial, avoid: number[]): void {
    const { trial } = entry;
    const free = this.alive.filter((id) => !this.busy.has(id));
    const engines = [...free.filter((id) => !avoid.includes(id)), ...free.filter((id) => avoid.includes(id))].slice(0, this.enginesPerTrial);
    for (const id of engines) this.busy.add(id);
    const ctx: ObjectiveContext = {
      trial: trial.id,
      fold: 0,
      folds: 1,
      dir: this.trialDir(trial.id),
      seed: this.settings.seed + trial.id,
      metric: this.settings.metric,
      direction: this.settings.direction,
      ...(this.objective.hep ? { hep: this.objective.hep } : {}),
    };
    const handle = startGroupTrial(this.cluster, this.objective, trial.params, ctx, engines, this.settings.timeoutMs);
    const run: FoldRun = { fold: 0, handle, engine: engines[0], engines, startedAt: Date.now(), done: false, steps: new Map(), metrics: new Map() };
    entry.runs.push(run);
    this.study.assign(trial.id, engines.join('+'));
    handle.onReport((data, engineId) => this.onReport(entry, run, data, engineId));
    void handle.settled.then((outcome) => this.onSettled(entry, run, outcome));
    this.emit({ kind: 'started', trial });
  }

  // ----------------------------------------------------------------- reports

  private onReport(entry: ActiveTrial, run: FoldRun, data: Record<string, unknown>, engineId: number | null): void {
    if (entry.ended) return;
    if (run.engine === null && engineId !== null) run.engine = engineId;
    const { metric } = this.settings;
    for (const key of [...LOSS_KEYS, metric]) {
      if (key in data && (typeof data[key] !== 'number' || !Number.isFinite(data[key] as number))) {
        // reports travel as JSON, where NaN and ±Infinity arrive as null
        this.diverge(entry, `${key} is ${data[key] === null ? 'NaN' : String(data[key])} at ${describeStep(data)}`);
        return;
      }
    }
    this.emit({ kind: 'report', trial: entry.trial, data });
    if (typeof data[metric] !== 'number') return;
    const step = typeof data.epoch === 'number' ? data.epoch : typeof data.step === 'number' ? data.step : run.steps.size + 1;
    run.steps.set(step, data[metric] as number);
    run.metrics.set(step, numericFields(data));
    // With folds, the study sees the mean once every fold reached the step.
    if (entry.reportedSteps.has(step) || !entry.runs.every((r) => r.steps.has(step)) || entry.runs.length < this.settings.folds) return;
    entry.reportedSteps.add(step);
    const value = mean(entry.runs.map((r) => r.steps.get(step)!));
    const metrics = meanFields(entry.runs.map((r) => r.metrics.get(step)!));
    const decision = this.study.report(entry.trial.id, step, value, metrics);
    if (decision === 'prune') {
      entry.ended = true;
      this.cancelRuns(entry);
      this.emit({ kind: 'pruned', trial: entry.trial });
    }
  }

  private diverge(entry: ActiveTrial, why: string): void {
    entry.ended = true;
    this.cancelRuns(entry);
    this.study.tell(entry.trial.id, { diverged: why });
    this.emit({ kind: 'failed_to_converge', trial: entry.trial });
  }

  private cancelRuns(entry: ActiveTrial): void {
    for (const r of entry.runs) if (!r.done) void r.handle.cancel().catch(() => undefined);
  }

  // ---------------------------------------------------------------- outcomes

  private onSettled(entry: ActiveTrial, run: FoldRun, outcome: { ok: true; value: unknown } | { ok: false; error: { cancelled: boolean; message: string; engineId: number | null } }): void {
    run.done = true;
    const handle = run.handle;
    for (const engine of run.engines ?? [handle.engineId ?? run.engine]) {
      this.spans.push({
        trial: entry.trial.id,
        fold: run.fold,
        engine,
        start: run.startedAt ?? handle.submittedAt,
        end: handle.finishedAt ?? Date.now(),
        outcome: outcome.ok ? 'ok' : outcome.error.cancelled ? 'cancelled' : 'error',
      });
      if (run.engines && engine !== null) this.busy.delete(engine);
    }
    if (!entry.ended) {
      if (outcome.ok) this.onFoldResult(entry, run, outcome.value);
      else if (outcome.error.cancelled) this.onUnexpectedCancel();
      else this.onFoldError(entry, outcome.error.message, run.engines ?? [outcome.error.engineId ?? handle.engineId]);
    }
    if (entry.runs.every((r) => r.done)) {
      this.active.delete(entry);
      this.fill();
    }
  }

  /** A task cancelled by someone else (a kernel interrupt, the client closing): the study stops. */
  private onUnexpectedCancel(): void {
    if (!this.stopping) void this.cancel();
  }

  private onFoldError(entry: ActiveTrial, message: string, engines: (number | null)[]): void {
    entry.ended = true;
    this.cancelRuns(entry);
    const trial = this.study.tell(entry.trial.id, { failed: message });
    if (trial.attempts < this.settings.maxAttempts && !this.stopping) {
      const failedOn = engines.filter((e): e is number => e !== null);
      if (failedOn.length) this.avoid.set(trial.id, [...(this.avoid.get(trial.id) ?? []), ...failedOn]);
      this.study.retry(trial.id);
      this.emit({ kind: 'retried', trial });
    } else {
      this.emit({ kind: 'failed', trial });
    }
  }

  private onFoldResult(entry: ActiveTrial, run: FoldRun, value: unknown): void {
    const parsed = parseResult(value, run, this.settings.metric);
    if (typeof parsed === 'string') {
      this.onFoldError(entry, parsed, run.engines ?? [run.engine]);
      return;
    }
    run.value = parsed.value;
    run.checkpoint = parsed.checkpoint;
    run.chance = parsed.chance;
    if (!entry.runs.every((r) => r.done && r.value !== undefined)) return;
    entry.ended = true;
    const values = entry.runs.map((r) => r.value!);
    const score = mean(values);
    const checkpoint = entry.runs[0].checkpoint;
    if (checkpoint) this.checkpoints.set(entry.trial.id, checkpoint);
    if (!Number.isFinite(score)) {
      this.study.tell(entry.trial.id, { diverged: `the objective returned ${score}` });
      this.emit({ kind: 'failed_to_converge', trial: entry.trial });
      return;
    }
    const chance = this.settings.chanceCheck ? (run.chance ?? this.settings.chance) : undefined;
    if (chance !== undefined && atChance(score, chance, this.settings.chanceTolerance, this.settings.direction)) {
      this.study.tell(entry.trial.id, { diverged: `${this.settings.metric} ${score.toPrecision(4)} after the last epoch is at chance (${chance})` });
      this.emit({ kind: 'failed_to_converge', trial: entry.trial });
      return;
    }
    this.study.tell(entry.trial.id, this.settings.folds > 1 ? { value: score, folds: values } : { value: score });
    this.emit({ kind: 'complete', trial: entry.trial });
  }

  private emit(event: TrialEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        process.stderr.write(`search: an onTrial listener threw: ${(err as Error).message}\n`);
      }
    }
  }
}

/** The objective's return value: a number, or {value, checkpoint?, chance?}; a string is the error. */
function parseResult(value: unknown, run: FoldRun, metric: string): ObjectiveResult | string {
  if (typeof value === 'number') return { value };
  if (value && typeof value === 'object' && typeof (value as ObjectiveResult).value === 'number') {
    const r = value as ObjectiveResult;
    return { value: r.value, checkpoint: typeof r.checkpoint === 'string' ? r.checkpoint : undefined, chance: typeof r.chance === 'number' ? r.chance : undefined };
  }
  // nothing returned: the last reported value of the metric is the score
  if ((value === undefined || value === null) && run.steps.size > 0) return { value: [...run.steps.values()].pop()! };
  return `the objective returned ${JSON.stringify(value)?.slice(0, 80)}, not a number or {value} (and reported no "${metric}")`;
}

function atChance(score: number, chance: number, tolerance: number, direction: Direction): boolean {
  return direction === 'max' ? score <= chance + tolerance : score >= chance - tolerance;
}

function describeStep(data: Record<string, unknown>): string {
  if (typeof data.epoch === 'number') return `epoch ${data.epoch}`;
  if (typeof data.step === 'number') return `step ${data.step}`;
  return 'a report';
}

function numericFields(data: Record<string, unknown>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(data)) if (typeof v === 'number') out[k] = v;
  return out;
}

function meanFields(records: Record<string, number>[]): Record<string, number> {
  if (records.length === 1) return records[0];
  const keys = Object.keys(records[0]).filter((k) => records.every((r) => k in r));
  return Object.fromEntries(keys.map((k) => [k, mean(records.map((r) => r[k]))]));
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}
