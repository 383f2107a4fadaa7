/**
 * Median stopping (as Optuna's MedianPruner): at a step, a trial is pruned
 * when its best intermediate value so far is worse than the median of the
 * complete trials' values at that same step. Never before `startup` trials
 * are complete, nor at steps below `warmup`. A NaN-only curve is
 * pruned.
 */
import type { Direction, PruneDecision, Trial } from '../types';
import { bestReportedLoss, lossOf, median } from '../samplers/sampler';
import { type Pruner, nonNegativeInt, PrunerOptionsError } from './pruner';

export interface MedianOptions {
  /** complete trials needed before anything is pruned (Optuna's n_startup_trials: 5) */
  startup?: number;
  /** steps below this are never pruned (Optuna's n_warmup_steps: 0) */
  warmup?: number;
}

export class MedianPruner implements Pruner {
  readonly startup: number;
  readonly warmup: number;

  constructor(opts: MedianOptions & Record<string, unknown> = {}) {
    for (const k of Object.keys(opts)) if (!['name', 'startup', 'warmup'].includes(k)) throw new PrunerOptionsError(`pruner: unknown option "${k}" for median (allowed: startup, warmup)`);
    this.startup = nonNegativeInt(opts, 'startup', 5, 'pruner');
    this.warmup = nonNegativeInt(opts, 'warmup', 0, 'pruner');
  }

  decide(trial: Trial, trials: readonly Trial[], direction: Direction): PruneDecision {
    const last = trial.reports[trial.reports.length - 1];
    if (!last || last.step < this.warmup) return 'continue';
    const complete = trials.filter((t) => t.state === 'complete' && t.id !== trial.id);
    if (complete.length < this.startup) return 'continue';
    const best = bestReportedLoss(trial, direction);
    if (best === Infinity) return 'prune';
    const atStep: number[] = [];
    for (const t of complete) {
      const r = t.reports.find((x) => x.step === last.step);
      const l = r ? lossOf(r.value, direction) : NaN;
      if (Number.isFinite(l)) atStep.push(l);
    }
    if (atStep.length === 0) return 'continue';
    return best > median(atStep) ? 'prune' : 'continue';
  }
}
