/**
 * Median stopping (as Optuna's MedianPruner): at a step, a trial is pruned
 * when its best intermediate value so far is worse than the median of the
 * complete trials' values at that same step. Never before `startupTrials`
 * trials are complete, nor at steps below `warmupSteps`. A NaN-only curve is
 * pruned.
 */
import type { Direction, PruneDecision, Trial } from '../types';
import { bestReportedLoss, lossOf, median } from '../samplers/sampler';
import { type Pruner, nonNegativeInt, PrunerOptionsError } from './pruner';

export interface MedianOptions {
  /** complete trials needed before anything is pruned (Optuna: 5) */
  startupTrials?: number;
  /** steps below this are never pruned (Optuna: 0) */
  warmupSteps?: number;
}

export class MedianPruner implements Pruner {
  readonly startupTrials: number;
  readonly warmupSteps: number;

  constructor(opts: MedianOptions & Record<string, unknown> = {}) {
    for (const k of Object.keys(opts)) if (!['name', 'startupTrials', 'warmupSteps'].includes(k)) throw new PrunerOptionsError(`pruner: unknown option "${k}" for median (allowed: startupTrials, warmupSteps)`);
    this.startupTrials = nonNegativeInt(opts, 'startupTrials', 5, 'pruner');
    this.warmupSteps = nonNegativeInt(opts, 'warmupSteps', 0, 'pruner');
  }

  decide(trial: Trial, trials: readonly Trial[], direction: Direction): PruneDecision {
    const last = trial.reports[trial.reports.length - 1];
    if (!last || last.step < this.warmupSteps) return 'continue';
    const complete = trials.filter((t) => t.state === 'complete' && t.id !== trial.id);
    if (complete.length < this.startupTrials) return 'continue';
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
