/**
 * What `cluster.search(...)` returns: awaitable (all trials once the study
 * ends), with trial events, cancel, the best / top trials (the best one can
 * re-evaluate its checkpoint on the test split), the trial data and CSV.
 */
import * as path from 'node:path';
import { overrideConfig } from '../../src/config';
import type { Study } from '../../src/hpo/study';
import type { Trial } from '../../src/hpo/types';
import type { Cluster } from '../client/cluster';
import type { SearchDriver, TaskSpan } from './driver';
import type { Evaluation, EvaluateRequest } from './evaluate-task';
import { paramsToOverrides } from './hep-params';
import { taskModule, type ResolvedObjective } from './objective';
import type { ObjectiveContext, Params, TrialEvent } from './types';

/** One run of the objective outside the study (`study.baseline()`). */
export interface BaselineRun {
  params: Params;
  value: number;
  checkpoint?: string;
  evaluate(split?: 'test'): Promise<Evaluation>;
}

/** A trial of a finished or running study, with its checkpoint and a test-split re-evaluation. */
export interface StudyTrial extends Trial {
  /** the checkpoint its objective returned (HEP objective: the trial's run directory) */
  checkpoint?: string;
  /** re-evaluate the checkpoint on the test split: loss, accuracy, AUC, ROC, the standard-cuts point */
  evaluate(split?: 'test'): Promise<Evaluation>;
}

export class StudyHandle implements PromiseLike<Trial[]> {
  private readonly result: Promise<Trial[]>;

  constructor(
    private readonly cluster: Cluster,
    private readonly driver: SearchDriver,
    private readonly objective: ResolvedObjective,
    readonly journalPath: string | null,
    finished: Promise<void>,
  ) {
    this.result = finished.then(() => this.snapshot());
    this.result.catch(() => undefined); // awaited by the user; no unhandled rejection if they never do
  }

  get study(): Study {
    return this.driver.study;
  }

  /** every trial so far, in id order (plain data; the same the dashboard and CSV read) */
  get trials(): Trial[] {
    return this.snapshot();
  }

  /** the study's directory (per-trial checkpoints under `trial-<id>/`) */
  get dir(): string {
    return this.driver.settings.dir;
  }

  get metric(): string {
    return this.driver.settings.metric;
  }

  get direction(): 'min' | 'max' {
    return this.driver.settings.direction;
  }

  /** busy intervals of every trial task on its engine (for utilisation) */
  get spans(): readonly TaskSpan[] {
    return this.driver.spans;
  }

  /** started, report, complete, pruned, failed, failed_to_converge, retried; returns an unsubscribe function */
  onTrial(listener: (event: TrialEvent) => void): () => void {
    return this.driver.onTrial(listener);
  }

  /** Stop: no new trials, running ones cancelled (a resume from the journal re-runs them). */
  async cancel(): Promise<void> {
    await this.driver.cancel();
  }

  best(): StudyTrial | undefined {
    const t = this.study.best();
    return t ? this.withEvaluate(t) : undefined;
  }

  top(k: number): StudyTrial[] {
    return this.study.top(k).map((t) => this.withEvaluate(t));
  }

  /**
   * Runs the objective once with `params` (default `{}`: the config as it is)
   * outside the study, e.g. the default config to compare the best trial
   * against; its checkpoint goes to `<dir>/baseline`.
   */
  async baseline(params: Params = {}): Promise<BaselineRun> {
    const dir = path.join(this.dir, 'baseline');
    const ctx: ObjectiveContext = { trial: -1, fold: 0, folds: 1, dir, seed: this.driver.settings.seed, metric: this.metric, direction: this.direction, ...(this.objective.hep ? { hep: this.objective.hep } : {}) };
    const raw = await this.cluster.balanced().submit<unknown>(this.objective.task, params, ctx);
    const result = typeof raw === 'number' ? { value: raw } : (raw as { value: number; checkpoint?: string });
    const checkpoint = result.checkpoint ?? (this.objective.kind === 'hep' ? dir : undefined);
    const trial: Trial = { id: -1, params, state: 'complete', value: result.value, reports: [], attempts: 1 };
    return { params, value: result.value, checkpoint, evaluate: (split = 'test') => this.evaluate(trial, checkpoint, split, dir) };
  }

  toCsv(): string {
    return this.study.toCsv();
  }

  then<R1 = Trial[], R2 = never>(onOk?: ((v: Trial[]) => R1 | PromiseLike<R1>) | null, onErr?: ((e: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.result.then(onOk, onErr);
  }

  catch<R = never>(onErr: (e: unknown) => R | PromiseLike<R>): Promise<Trial[] | R> {
    return this.result.catch(onErr);
  }

  private snapshot(): Trial[] {
    return this.study.trials.map((t) => structuredClone(t) as Trial);
  }

  private withEvaluate(t: Trial): StudyTrial {
    const trial = structuredClone(t) as Trial;
    const checkpoint = this.driver.checkpoints.get(t.id) ?? (this.objective.kind === 'hep' ? this.driver.trialDir(t.id, 0) : undefined);
    return { ...trial, checkpoint, evaluate: (split = 'test') => this.evaluate(trial, checkpoint, split) };
  }

  private async evaluate(trial: Trial, checkpoint: string | undefined, split: string, runDir = this.driver.trialDir(trial.id)): Promise<Evaluation> {
    if (split !== 'test') throw new RangeError(`evaluate: only the 'test' split is supported, got ${JSON.stringify(split)}`);
    const hep = this.objective.hep;
    if (!hep) throw new Error(`evaluate: trial ${trial.id} ran the user objective ${this.objective.label}; re-evaluation on the test split needs the built-in HEP objective`);
    if (!checkpoint) throw new Error(`evaluate: trial ${trial.id} has no checkpoint`);
    const config = overrideConfig(hep.config, { ...hep.overrides, ...paramsToOverrides(trial.params, hep.config), inputpath: hep.inputPath ?? hep.config.inputpath }, { warn: () => undefined });
    const request: EvaluateRequest = { config, checkpoint, outputDir: path.join(runDir, `evaluation-${split}`) };
    return this.cluster.balanced().submit<Evaluation>({ module: taskModule('evaluate-task'), export: 'evaluateCheckpoint' }, request);
  }
}
