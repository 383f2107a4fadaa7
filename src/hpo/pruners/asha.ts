/**
 * Asynchronous successive halving (ASHA; as Optuna's SuccessiveHalvingPruner):
 * rung k sits at step minResource·eta^(earlyStoppingRate+k). When a trial's
 * reports first reach a rung, its value there is compared with the values of
 * every trial that reached that rung (running, pruned and complete alike): it
 * goes on if it is within the best 1/eta of them, otherwise it stops. While a
 * rung holds fewer than eta values only a trial at least as good as the best
 * goes on (Optuna's rule, since nothing can be resumed later). Rungs stop at
 * maxResource when given.
 */
import type { Direction, PruneDecision, Trial } from '../types';
import { lossOf } from '../samplers/sampler';
import { type Pruner, nonNegativeInt, PrunerOptionsError } from './pruner';

export interface AshaOptions {
  /** the first rung's step (default 1) */
  minResource?: number;
  /** reduction factor: the best 1/eta go on at each rung (default 3) */
  eta?: number;
  /** no rung at or beyond this step (the last epoch) */
  maxResource?: number;
  /** skips the first rungs: rung k is at minResource·eta^(s+k) (default 0) */
  earlyStoppingRate?: number;
}

export class AshaPruner implements Pruner {
  readonly minResource: number;
  readonly eta: number;
  readonly maxResource: number;
  readonly earlyStoppingRate: number;

  constructor(opts: AshaOptions & Record<string, unknown> = {}) {
    const allowed = ['name', 'minResource', 'eta', 'maxResource', 'earlyStoppingRate'];
    for (const k of Object.keys(opts)) if (!allowed.includes(k)) throw new PrunerOptionsError(`pruner: unknown option "${k}" for asha (allowed: ${allowed.slice(1).join(', ')})`);
    this.minResource = nonNegativeInt(opts, 'minResource', 1, 'pruner', 1);
    this.eta = nonNegativeInt(opts, 'eta', 3, 'pruner', 2);
    this.maxResource = nonNegativeInt(opts, 'maxResource', Number.MAX_SAFE_INTEGER, 'pruner', 1);
    this.earlyStoppingRate = nonNegativeInt(opts, 'earlyStoppingRate', 0, 'pruner');
  }

  /** the rung steps below maxResource */
  rungs(): number[] {
    const out: number[] = [];
    for (let r = this.minResource * this.eta ** this.earlyStoppingRate; r < this.maxResource && out.length < 64; r *= this.eta) out.push(r);
    return out;
  }

  /** the trial's loss at a rung: its first report at or past the rung's step */
  private rungLoss(t: Trial, rung: number, direction: Direction): { index: number; loss: number } | null {
    const index = t.reports.findIndex((r) => r.step >= rung);
    if (index < 0) return null;
    const l = lossOf(t.reports[index].value, direction);
    return { index, loss: Number.isNaN(l) ? Infinity : l };
  }

  decide(trial: Trial, trials: readonly Trial[], direction: Direction): PruneDecision {
    const newest = trial.reports.length - 1;
    for (const rung of this.rungs()) {
      const own = this.rungLoss(trial, rung, direction);
      if (!own || own.index !== newest) continue;
      if (own.loss === Infinity) return 'prune';
      const competing: number[] = [];
      for (const t of trials) {
        const r = this.rungLoss(t, rung, direction);
        if (r) competing.push(r.loss);
      }
      competing.sort((a, b) => a - b);
      const idx = Math.max(0, Math.floor(competing.length / this.eta) - 1);
      if (own.loss > competing[idx]) return 'prune';
    }
    return 'continue';
  }
}
