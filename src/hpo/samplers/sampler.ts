/** What every sampler implements, and the history views they share. */
import type { AlgorithmOptions, Direction, Params, SearchSpace, Trial } from '../types';

export interface SamplerContext {
  space: SearchSpace;
  direction: Direction;
  seed: number;
  /** the study's trial budget (the genetic algorithm derives its generation count from it) */
  budget: number;
  options: AlgorithmOptions;
}

/**
 * A sampler is a pure function of (seed, history, ids): it keeps no state of
 * its own, so a study rebuilt from its journal proposes exactly what the
 * uninterrupted study would have.
 */
export interface Sampler {
  /** parameters for the new trials `ids`, given every trial so far (running and pending ones included) */
  propose(history: readonly Trial[], ids: number[]): Params[];
  /** how many distinct points a finite sampler (grid) has; undefined when unbounded */
  readonly size?: number;
  /** a finite sampler's points that no trial of `history` holds yet */
  remaining?(history: readonly Trial[]): number;
}

/** a finished trial's objective turned into a loss (smaller is better) */
export interface Scored { trial: Trial; loss: number }

export function lossOf(value: number, direction: Direction): number {
  return direction === 'max' ? -value : value;
}

/** the best finite intermediate loss of a trial's reports (Infinity when none) */
export function bestReportedLoss(trial: Trial, direction: Direction): number {
  let best = Infinity;
  for (const r of trial.reports) {
    const l = lossOf(r.value, direction);
    if (Number.isFinite(l) && l < best) best = l;
  }
  return best;
}

export interface HistoryView {
  complete: Scored[];
  pruned: Trial[];
  diverged: Trial[];
  /** proposed and not finished: running or pending */
  inflight: Trial[];
}

export function viewHistory(history: readonly Trial[], direction: Direction): HistoryView {
  const v: HistoryView = { complete: [], pruned: [], diverged: [], inflight: [] };
  for (const t of history) {
    if (t.state === 'complete' && t.value !== undefined && Number.isFinite(t.value)) v.complete.push({ trial: t, loss: lossOf(t.value, direction) });
    else if (t.state === 'pruned') v.pruned.push(t);
    else if (t.state === 'failed_to_converge') v.diverged.push(t);
    else if (t.state === 'running' || t.state === 'pending') v.inflight.push(t);
  }
  return v;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Losses for model-based samplers: complete trials as measured; a diverged
 * trial counts as the worst loss seen; a pruned trial as the worse of its best
 * intermediate loss and the median complete loss (it was stopped for being
 * below par, so its partial value is optimistic).
 */
export function modelObservations(view: HistoryView, direction: Direction): Scored[] {
  const out = [...view.complete];
  const med = median(view.complete.map((s) => s.loss));
  for (const t of view.pruned) {
    const own = bestReportedLoss(t, direction);
    const l = Number.isFinite(med) ? Math.max(own, med) : own;
    if (Number.isFinite(l)) out.push({ trial: t, loss: l });
  }
  if (view.diverged.length > 0 && out.length > 0) {
    const worst = Math.max(...out.map((s) => s.loss));
    for (const t of view.diverged) out.push({ trial: t, loss: worst });
  }
  return out.sort((a, b) => a.trial.id - b.trial.id);
}
