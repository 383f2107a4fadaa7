/**
 * IO-free study state machine: proposes trials through a sampler, takes
 * intermediate reports through a pruner, and keeps every trial's state.
 * A driver (cluster.search, the CLI, a test) calls ask → report* → tell.
 */
import type { Params, PruneDecision, StudyEvent, StudyOptions, TellOutcome, Trial } from './types';

export interface StudyClock { now(): number }

export class Study {
  readonly options: StudyOptions;

  constructor(options: StudyOptions, _clock?: StudyClock) {
    this.options = options;
    throw new Error('Study: not implemented yet');
  }

  /** all trials in id order (live objects: read, do not mutate) */
  get trials(): readonly Trial[] {
    throw new Error('not implemented');
  }

  /** no trial left to propose (budget or grid exhausted) and none pending or running */
  get done(): boolean {
    throw new Error('not implemented');
  }

  /** up to `n` trials to run now: re-queued pending ones first, then new proposals that account for the running ones */
  ask(_n = 1): Trial[] {
    throw new Error('not implemented');
  }

  /** records which engine runs a trial */
  assign(_id: number, _engine: number | string): void {
    throw new Error('not implemented');
  }

  /** an intermediate value at `step` (epoch); 'prune' means stop the trial now (it is marked pruned) */
  report(_id: number, _step: number, _value: number, _metrics?: Record<string, number>): PruneDecision {
    throw new Error('not implemented');
  }

  tell(_id: number, _outcome: TellOutcome): Trial {
    throw new Error('not implemented');
  }

  /** a failed trial goes back to pending; the next ask hands it out again */
  retry(_id: number): Trial {
    throw new Error('not implemented');
  }

  best(): Trial | undefined {
    throw new Error('not implemented');
  }

  top(_k: number): Trial[] {
    throw new Error('not implemented');
  }

  toCsv(): string {
    throw new Error('not implemented');
  }

  /** every change, in order; returns an unsubscribe function */
  onChange(_listener: (event: StudyEvent) => void): () => void {
    throw new Error('not implemented');
  }
}

export type { Params };
