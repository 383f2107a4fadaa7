/**
 * IO-free study state machine: proposes trials through a sampler, takes
 * intermediate reports through a pruner, and keeps every trial's state.
 * A driver (cluster.search, the CLI, a test) calls ask → report* → tell;
 * every change is an event (onChange), which is what the journal writes.
 */
import { createPruner, type Pruner } from './pruners';
import { ALGORITHMS, createSampler, type Sampler } from './samplers';
import { bestReportedLoss, lossOf } from './samplers/sampler';
import { validateParams, validateSpace } from './space';
import type { Params, PruneDecision, StudyEvent, StudyOptions, TellOutcome, Trial, TrialState } from './types';

export interface StudyClock { now(): number }

export class StudyOptionsError extends Error {
  override name = 'StudyOptionsError';
}

/** The compact JSON form of a StudyEvent (a journal line); non-finite numbers are written as strings. */
export type StudyRecord =
  | { type: 'ask'; id: number; params: Params; at: number }
  | { type: 'enqueue'; id: number; params: Params }
  | { type: 'start'; id: number; at: number }
  | { type: 'assign'; id: number; engine: number | string }
  | { type: 'report'; id: number; step: number; value: number | string; metrics?: Record<string, number | string>; decision: PruneDecision; at: number }
  | { type: 'tell'; id: number; state: TrialState; value?: number | string; folds?: (number | string)[]; error?: string; at: number }
  | { type: 'retry'; id: number }
  | { type: 'requeue'; id: number };

const STUDY_FIELDS = ['space', 'algorithm', 'trials', 'direction', 'metric', 'pruner', 'folds', 'seed', 'maxParallel', 'name', 'algorithmOptions'];

/** Checks study options; the error names the field. Fills in algorithm, direction and a seed. */
export function validateStudyOptions(raw: StudyOptions): StudyOptions & { algorithm: NonNullable<StudyOptions['algorithm']>; direction: 'min' | 'max'; seed: number } {
  if (raw === null || typeof raw !== 'object') throw new StudyOptionsError(`study options must be an object, got ${String(raw)}`);
  for (const k of Object.keys(raw)) if (!STUDY_FIELDS.includes(k)) throw new StudyOptionsError(`study: unknown option "${k}" (allowed: ${STUDY_FIELDS.join(', ')})`);
  validateSpace(raw.space);
  const algorithm = raw.algorithm ?? 'random';
  if (!ALGORITHMS.includes(algorithm)) throw new StudyOptionsError(`study.algorithm must be one of ${ALGORITHMS.join(', ')}, got ${JSON.stringify(algorithm)}`);
  if (!Number.isInteger(raw.trials) || raw.trials < 1) throw new StudyOptionsError(`study.trials must be a positive integer, got ${JSON.stringify(raw.trials)}`);
  const direction = raw.direction ?? 'min';
  if (direction !== 'min' && direction !== 'max') throw new StudyOptionsError(`study.direction must be "min" or "max", got ${JSON.stringify(direction)}`);
  if (raw.folds !== undefined && (!Number.isInteger(raw.folds) || raw.folds < 1)) throw new StudyOptionsError(`study.folds must be a positive integer (1: no cross-validation), got ${JSON.stringify(raw.folds)}`);
  if (raw.maxParallel !== undefined && (!Number.isInteger(raw.maxParallel) || raw.maxParallel < 1)) throw new StudyOptionsError(`study.maxParallel must be a positive integer, got ${JSON.stringify(raw.maxParallel)}`);
  if (raw.seed !== undefined && !Number.isInteger(raw.seed)) throw new StudyOptionsError(`study.seed must be an integer, got ${JSON.stringify(raw.seed)}`);
  if (raw.metric !== undefined && typeof raw.metric !== 'string') throw new StudyOptionsError(`study.metric must be a string, got ${JSON.stringify(raw.metric)}`);
  const seed = raw.seed ?? Math.floor(Math.random() * 2 ** 31);
  return { ...raw, algorithm, direction, seed };
}

function encodeNumber(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

function decodeNumber(v: number | string | null | undefined): number {
  return typeof v === 'number' ? v : v === undefined || v === null ? NaN : Number(v);
}

/** The record a journal writes for an event. */
export function eventRecord(e: StudyEvent): StudyRecord {
  switch (e.type) {
    case 'ask':
      return { type: 'ask', id: e.trial.id, params: e.trial.params, at: e.at };
    case 'enqueue':
      return { type: 'enqueue', id: e.trial.id, params: e.trial.params };
    case 'start':
      return { type: 'start', id: e.trial.id, at: e.at };
    case 'assign':
      return { type: 'assign', id: e.trial.id, engine: e.engine };
    case 'report': {
      const r: StudyRecord = { type: 'report', id: e.trial.id, step: e.step, value: encodeNumber(e.value), decision: e.decision, at: e.at };
      if (e.metrics) r.metrics = Object.fromEntries(Object.entries(e.metrics).map(([k, v]) => [k, encodeNumber(v)]));
      return r;
    }
    case 'tell': {
      const t = e.trial;
      const r: StudyRecord = { type: 'tell', id: t.id, state: t.state, at: e.at };
      if (t.value !== undefined) r.value = encodeNumber(t.value);
      if (t.folds) r.folds = t.folds.map(encodeNumber);
      if (t.error !== undefined) r.error = t.error;
      return r;
    }
    case 'retry':
    case 'requeue':
      return { type: e.type, id: e.trial.id };
  }
}

/** mean and sample standard deviation of a trial's fold scores */
export function foldSpread(trial: Trial): { mean: number; std: number } | undefined {
  const f = trial.folds;
  if (!f || f.length === 0) return undefined;
  const mean = f.reduce((a, b) => a + b, 0) / f.length;
  const std = f.length > 1 ? Math.sqrt(f.reduce((a, b) => a + (b - mean) ** 2, 0) / (f.length - 1)) : 0;
  return { mean, std };
}

export class Study {
  readonly options: ReturnType<typeof validateStudyOptions>;
  private readonly sampler: Sampler;
  private readonly pruner: Pruner | null;
  private readonly list: Trial[] = [];
  private readonly listeners = new Set<(event: StudyEvent) => void>();
  private readonly clock: StudyClock;

  constructor(options: StudyOptions, clock: StudyClock = { now: () => Date.now() }) {
    this.options = validateStudyOptions(options);
    this.clock = clock;
    const o = this.options;
    this.sampler = createSampler(o.algorithm, { space: o.space, direction: o.direction, seed: o.seed, budget: o.trials, options: o.algorithmOptions ?? {} });
    this.pruner = createPruner(o.pruner);
  }

  get direction(): 'min' | 'max' {
    return this.options.direction;
  }

  /** all trials in id order (live objects: read, do not mutate) */
  get trials(): readonly Trial[] {
    return this.list;
  }

  /** how many trials the study will run in all: the budget, or fewer when the grid is smaller */
  get capacity(): number {
    const left = this.sampler.remaining?.(this.list);
    return left === undefined ? this.options.trials : Math.min(this.options.trials, this.list.length + left);
  }

  get running(): number {
    return this.list.filter((t) => t.state === 'running').length;
  }

  /** no trial left to propose (budget or grid exhausted) and none pending or running */
  get done(): boolean {
    return this.list.length >= this.capacity && this.list.every((t) => t.state !== 'pending' && t.state !== 'running');
  }

  counts(): Record<TrialState, number> {
    const c: Record<TrialState, number> = { pending: 0, running: 0, complete: 0, pruned: 0, failed: 0, failed_to_converge: 0 };
    for (const t of this.list) c[t.state]++;
    return c;
  }

  trial(id: number): Trial {
    const t = Number.isInteger(id) ? this.list[id] : undefined;
    if (!t) throw new RangeError(`study: no trial ${id} (trials 0..${this.list.length - 1})`);
    return t;
  }

  /**
   * Up to `n` trials to run now, marked running: re-queued pending ones first
   * (lowest id first), then new proposals that account for the running ones.
   * Fewer (maybe none) when the budget, the grid or maxParallel is reached.
   */
  ask(n = 1): Trial[] {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`study.ask: n must be a non-negative integer, got ${n}`);
    let room = n;
    if (this.options.maxParallel !== undefined) room = Math.min(room, this.options.maxParallel - this.running);
    const out: Trial[] = [];
    const at = this.clock.now();
    for (const t of this.list) {
      if (out.length >= room) break;
      if (t.state !== 'pending') continue;
      t.state = 'running';
      t.attempts++;
      t.startedAt = at;
      out.push(t);
      this.emit({ type: 'start', trial: t, at });
    }
    const fresh = Math.min(room - out.length, this.capacity - this.list.length);
    if (fresh > 0) {
      const ids = Array.from({ length: fresh }, (_, i) => this.list.length + i);
      const proposals = this.sampler.propose(this.list, ids);
      for (let i = 0; i < ids.length; i++) {
        const t: Trial = { id: ids[i], params: proposals[i], state: 'running', reports: [], attempts: 1, startedAt: at };
        this.list.push(t);
        out.push(t);
        this.emit({ type: 'ask', trial: t, at });
      }
    }
    return out;
  }

  /**
   * Adds a trial with the given parameters (e.g. the default config as a
   * baseline), pending: the next ask hands it out before new proposals. It
   * counts toward the budget; the error names a bad parameter.
   */
  enqueue(params: Params): Trial {
    if (this.list.length >= this.options.trials) throw new Error(`study.enqueue: the budget of ${this.options.trials} trials is used up`);
    const t: Trial = { id: this.list.length, params: validateParams(this.options.space, params), state: 'pending', reports: [], attempts: 0 };
    this.list.push(t);
    this.emit({ type: 'enqueue', trial: t });
    return t;
  }

  /** records which engine runs a trial */
  assign(id: number, engine: number | string): void {
    const t = this.trial(id);
    t.engine = engine;
    this.emit({ type: 'assign', trial: t, engine });
  }

  /**
   * An intermediate objective value at `step` (epoch). 'prune' means stop the
   * trial now: it is marked pruned with its best value so far and keeps its
   * curve. A report for a trial that is not running is not recorded and
   * answers 'prune' (the trial should not be running).
   */
  report(id: number, step: number, value: number, metrics?: Record<string, number>): PruneDecision {
    const t = this.trial(id);
    if (typeof step !== 'number' || !Number.isFinite(step)) throw new TypeError(`study.report: trial ${id}: step must be a finite number, got ${String(step)}`);
    if (typeof value !== 'number') throw new TypeError(`study.report: trial ${id}: value must be a number, got ${typeof value}`);
    if (t.state !== 'running') return 'prune';
    const r = metrics ? { step, value, metrics } : { step, value };
    t.reports.push(r);
    const decision = this.pruner ? this.pruner.decide(t, this.list, this.direction) : 'continue';
    const at = this.clock.now();
    if (decision === 'prune') this.markPruned(t, at);
    this.emit({ type: 'report', trial: t, step, value, metrics, decision, at });
    return decision;
  }

  private markPruned(t: Trial, at: number): void {
    t.state = 'pruned';
    const best = bestReportedLoss(t, this.direction);
    if (Number.isFinite(best)) t.value = lossOf(best, this.direction);
    t.endedAt = at;
  }

  /**
   * Ends a running trial. `{ value }` completes it (with `folds`, the value is
   * their mean); a non-finite value makes it failed_to_converge. `{ diverged }`
   * (NaN loss, metric at chance: the driver decides) marks failed_to_converge,
   * `{ failed }` (threw, engine died) marks failed. Telling a pruned trial is
   * a no-op (the pruning already ended it).
   */
  tell(id: number, outcome: TellOutcome): Trial {
    const t = this.trial(id);
    if (t.state === 'pruned') return t;
    if (t.state !== 'running') throw new Error(`study.tell: trial ${id} is ${t.state}, not running`);
    if (outcome === null || typeof outcome !== 'object') throw new TypeError(`study.tell: trial ${id}: outcome must be { value }, { failed } or { diverged }`);
    if ('value' in outcome) {
      let value = outcome.value;
      if (outcome.folds !== undefined) {
        const f = outcome.folds;
        if (!Array.isArray(f) || f.length === 0 || f.some((v) => typeof v !== 'number')) throw new TypeError(`study.tell: trial ${id}: folds must be a non-empty array of numbers`);
        if (this.options.folds !== undefined && f.length !== this.options.folds) throw new RangeError(`study.tell: trial ${id}: ${f.length} fold scores for a ${this.options.folds}-fold study`);
        t.folds = [...f];
        value = f.reduce((a, b) => a + b, 0) / f.length;
      }
      if (typeof value !== 'number') throw new TypeError(`study.tell: trial ${id}: value must be a number, got ${typeof value}`);
      if (Number.isFinite(value)) {
        t.state = 'complete';
        t.value = value;
      } else {
        t.state = 'failed_to_converge';
        t.error = `objective value is ${value}`;
      }
    } else if ('diverged' in outcome) {
      t.state = 'failed_to_converge';
      t.error = String(outcome.diverged);
    } else if ('failed' in outcome) {
      t.state = 'failed';
      t.error = String(outcome.failed);
    } else {
      throw new TypeError(`study.tell: trial ${id}: outcome must be { value }, { failed } or { diverged }`);
    }
    const at = this.clock.now();
    t.endedAt = at;
    this.emit({ type: 'tell', trial: t, at });
    return t;
  }

  /** a failed (or failed-to-converge) trial goes back to pending with the same parameters; the next ask hands it out again */
  retry(id: number): Trial {
    const t = this.trial(id);
    if (t.state !== 'failed' && t.state !== 'failed_to_converge') throw new Error(`study.retry: trial ${id} is ${t.state}; only failed trials are retried`);
    this.requeue(t);
    this.emit({ type: 'retry', trial: t });
    return t;
  }

  private requeue(t: Trial): void {
    t.state = 'pending';
    t.reports = [];
    delete t.value;
    delete t.folds;
    delete t.error;
    delete t.engine;
    delete t.endedAt;
  }

  /** After a restart: running trials go back to pending (their partial curves are dropped; they run again). */
  requeueInFlight(): Trial[] {
    const moved = this.list.filter((t) => t.state === 'running');
    for (const t of moved) {
      this.requeue(t);
      this.emit({ type: 'requeue', trial: t });
    }
    return moved;
  }

  /** Applies a journal record without consulting the sampler or the pruner, and without events. */
  replay(r: StudyRecord): void {
    if (r.type === 'ask' || r.type === 'enqueue') {
      if (r.id !== this.list.length) throw new Error(`${r.type} of trial ${r.id} where trial ${this.list.length} was expected`);
      if (r.type === 'ask') this.list.push({ id: r.id, params: r.params, state: 'running', reports: [], attempts: 1, startedAt: r.at });
      else this.list.push({ id: r.id, params: r.params, state: 'pending', reports: [], attempts: 0 });
      return;
    }
    const t = this.trial(r.id);
    switch (r.type) {
      case 'start':
        t.state = 'running';
        t.attempts++;
        t.startedAt = r.at;
        return;
      case 'assign':
        t.engine = r.engine;
        return;
      case 'report': {
        const value = decodeNumber(r.value);
        const metrics = r.metrics ? Object.fromEntries(Object.entries(r.metrics).map(([k, v]) => [k, decodeNumber(v)])) : undefined;
        t.reports.push(metrics ? { step: r.step, value, metrics } : { step: r.step, value });
        if (r.decision === 'prune') this.markPruned(t, r.at);
        return;
      }
      case 'tell':
        t.state = r.state;
        if (r.value !== undefined) t.value = decodeNumber(r.value);
        if (r.folds) t.folds = r.folds.map(decodeNumber);
        if (r.error !== undefined) t.error = r.error;
        t.endedAt = r.at;
        return;
      case 'retry':
      case 'requeue':
        this.requeue(t);
        return;
    }
  }

  /** the best complete trial (lowest id on ties) */
  best(): Trial | undefined {
    return this.top(1)[0];
  }

  /** the k best complete trials, best first */
  top(k: number): Trial[] {
    return this.list
      .filter((t) => t.state === 'complete' && t.value !== undefined)
      .sort((a, b) => lossOf(a.value!, this.direction) - lossOf(b.value!, this.direction) || a.id - b.id)
      .slice(0, Math.max(0, k));
  }

  /**
   * One row per trial: id, state, value, fold mean/std, each parameter (empty
   * when inactive), attempts, engine, start/end (ISO), seconds, last step,
   * error.
   */
  toCsv(): string {
    const names = Object.keys(this.options.space);
    const header = ['id', 'state', 'value', 'fold_mean', 'fold_std', ...names, 'attempts', 'engine', 'started_at', 'ended_at', 'seconds', 'last_step', 'error'];
    const rows = [header.map(csvField).join(',')];
    for (const t of this.list) {
      const spread = foldSpread(t);
      const seconds = t.startedAt !== undefined && t.endedAt !== undefined ? (t.endedAt - t.startedAt) / 1000 : undefined;
      const cells = [
        t.id,
        t.state,
        t.value,
        spread?.mean,
        spread?.std,
        ...names.map((n) => t.params[n]),
        t.attempts,
        t.engine,
        t.startedAt === undefined ? undefined : new Date(t.startedAt).toISOString(),
        t.endedAt === undefined ? undefined : new Date(t.endedAt).toISOString(),
        seconds,
        t.reports[t.reports.length - 1]?.step,
        t.error,
      ];
      rows.push(cells.map(csvField).join(','));
    }
    return rows.join('\n') + '\n';
  }

  /** every change, in order; returns an unsubscribe function */
  onChange(listener: (event: StudyEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: StudyEvent): void {
    for (const l of this.listeners) l(event);
  }
}

function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
