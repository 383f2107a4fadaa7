/**
 * Tree-structured Parzen Estimator, univariate like Optuna's default
 * TPESampler (3.1): `startup` random trials, then per dimension the trials
 * holding it are split at gamma(n) = min(ceil(n/10), 25) into "below" (better)
 * and "above"; `eiCandidates` draws from l(x) are scored by log l(x) - log g(x)
 * and the best is taken. Complete trials rank before pruned ones, pruned ones
 * by how far they got; diverged trials rank last. Running trials are ignored
 * (as in Optuna without constant_liar).
 */
import { Rng } from '../../data/rng';
import { dimensionOrder, fromUnit, isActive, toUnit } from '../space';
import type { Dimension, Params, Trial } from '../types';
import { CategoricalParzen, defaultGamma, NumericParzen } from './parzen-estimator';
import { randomParams } from './random';
import { type Sampler, type SamplerContext, lossOf } from './sampler';

export const DEFAULT_TPE_STARTUP = 10;
export const DEFAULT_TPE_EI_CANDIDATES = 24;
const TPE_STREAM = 0x54504521;

/** sortable rank of a finished trial: [tier, -steps, loss] */
type Rank = [number, number, number];

export class TpeSampler implements Sampler {
  private readonly startup: number;
  private readonly eiCandidates: number;
  private readonly order: string[];

  constructor(private readonly ctx: SamplerContext) {
    this.startup = ctx.options.startup ?? DEFAULT_TPE_STARTUP;
    this.eiCandidates = ctx.options.eiCandidates ?? DEFAULT_TPE_EI_CANDIDATES;
    if (!Number.isInteger(this.startup) || this.startup < 0) throw new Error(`tpe: startup must be a non-negative integer, got ${this.startup}`);
    if (!Number.isInteger(this.eiCandidates) || this.eiCandidates < 1) throw new Error(`tpe: eiCandidates must be a positive integer, got ${this.eiCandidates}`);
    this.order = dimensionOrder(ctx.space);
  }

  propose(history: readonly Trial[], ids: number[]): Params[] {
    const ranked: { trial: Trial; rank: Rank }[] = [];
    for (const t of history) {
      const r = this.rank(t);
      if (r) ranked.push({ trial: t, rank: r });
    }
    return ids.map((id) => {
      if (ranked.length < this.startup) return randomParams(this.ctx, id, TPE_STREAM);
      const rng = new Rng(this.ctx.seed, id, TPE_STREAM);
      const params: Params = {};
      for (const name of this.order) {
        const d = this.ctx.space[name];
        if (isActive(d.when, params)) params[name] = this.sampleDimension(name, d, ranked, rng);
      }
      return params;
    });
  }

  private rank(t: Trial): Rank | null {
    const { direction } = this.ctx;
    if (t.state === 'complete' && t.value !== undefined && Number.isFinite(t.value)) return [0, 0, lossOf(t.value, direction)];
    if (t.state === 'pruned') {
      const last = t.reports[t.reports.length - 1];
      if (!last) return [2, 0, 0];
      const l = lossOf(last.value, direction);
      return [1, -last.step, Number.isFinite(l) ? l : Infinity];
    }
    if (t.state === 'failed_to_converge') return [2, 0, 0];
    return null;
  }

  private sampleDimension(name: string, d: Dimension, ranked: { trial: Trial; rank: Rank }[], rng: Rng) {
    const holding = ranked.filter((r) => r.trial.params[name] !== undefined);
    const byRank = [...holding].sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1] || a.rank[2] - b.rank[2] || a.trial.id - b.trial.id);
    const nBelow = defaultGamma(holding.length);
    const below = new Set(byRank.slice(0, nBelow).map((r) => r.trial));
    const inOrder = [...holding].sort((a, b) => a.trial.id - b.trial.id);
    const lowObs = inOrder.filter((r) => below.has(r.trial)).map((r) => r.trial.params[name]);
    const highObs = inOrder.filter((r) => !below.has(r.trial)).map((r) => r.trial.params[name]);
    if (d.type === 'categorical') {
      const l = new CategoricalParzen(lowObs.map((v) => d.choices.indexOf(v)), d.choices.length);
      const g = new CategoricalParzen(highObs.map((v) => d.choices.indexOf(v)), d.choices.length);
      let best = 0;
      let bestScore = -Infinity;
      for (let i = 0; i < this.eiCandidates; i++) {
        const c = l.sample(rng);
        const s = l.logPmf(c) - g.logPmf(c);
        if (s > bestScore) [best, bestScore] = [c, s];
      }
      return d.choices[best];
    }
    const cell = d.type === 'int' ? intCell(d) : null;
    const l = new NumericParzen(lowObs.map((v) => toUnit(d, v)), cell);
    const g = new NumericParzen(highObs.map((v) => toUnit(d, v)), cell);
    let best = 0.5;
    let bestScore = -Infinity;
    for (let i = 0; i < this.eiCandidates; i++) {
      // integers are scored at the centre of the cell they fall in
      const u = cell === null ? l.sample(rng) : toUnit(d, fromUnit(d, l.sample(rng)));
      const s = l.logPdf(u) - g.logPdf(u);
      if (s > bestScore) [best, bestScore] = [u, s];
    }
    return fromUnit(d, best);
  }
}

/** the unit-space cell [lo, hi] of the integer that `u` decodes to */
function intCell(d: Extract<Dimension, { type: 'int' }>): (u: number) => [number, number] {
  const half = (d.step ?? 1) / 2;
  return (u) => {
    const v = fromUnit(d, u) as number;
    return [toUnit(d, v - half), toUnit(d, v + half)];
  };
}
