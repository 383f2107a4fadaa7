/**
 * Gaussian-process Bayesian optimisation: a few random initial points, then
 * each proposal maximises expected improvement (log EI over random candidates
 * plus candidates around the best trials, then a (1+1) local refinement of the
 * leaders). Running and pending trials, and earlier members of the same batch,
 * enter the model as "kriging believer" points (their posterior mean), so a
 * batch spreads out and no engine waits for a result.
 */
import { Rng } from '../../data/rng';
import { dimensionOrder, paramsFromUnits, paramsKey, SpaceEncoder, toUnit } from '../space';
import type { Params, Trial } from '../types';
import { fitHyperparameters, GaussianProcess, logExpectedImprovement } from './gaussian-process';
import { randomParams } from './random';
import { type Sampler, type SamplerContext, type Scored, modelObservations, viewHistory } from './sampler';

/** random candidates per proposal; 500 + 100 local + 3×30 refinement steps costs ~5 ms at 50 points (bench/hpo-overhead) */
export const DEFAULT_GP_CANDIDATES = 500;
/** finished trials in the model at most (best half + most recent half); the Cholesky is O(n³) */
export const DEFAULT_GP_MAX_POINTS = 200;
/** hyperparameters are fitted on at most this many of the model's points (each fit is ~40 factorisations) */
const FIT_POINTS = 100;
const LOCAL_LEADERS = 5;
const LOCAL_PER_LEADER = 20;
const REFINE_STARTS = 3;
const REFINE_STEPS = 30;
const GP_STREAM = 0x47505f53;

export function defaultInitialPoints(dimensions: number): number {
  return Math.max(4, Math.min(10, dimensions + 2));
}

export class GpSampler implements Sampler {
  private readonly encoder: SpaceEncoder;
  private readonly order: string[];
  private readonly groups: Int32Array;
  private readonly initial: number;
  private readonly candidates: number;
  private readonly maxPoints: number;

  constructor(private readonly ctx: SamplerContext) {
    this.encoder = new SpaceEncoder(ctx.space);
    this.order = dimensionOrder(ctx.space);
    const groups: number[] = [];
    this.encoder.names.forEach((n, i) => {
      const d = ctx.space[n];
      const w = d.type === 'categorical' ? d.choices.length : 1;
      for (let k = 0; k < w; k++) groups.push(i);
    });
    this.groups = Int32Array.from(groups);
    this.initial = ctx.options.initial ?? defaultInitialPoints(this.encoder.names.length);
    this.candidates = ctx.options.candidates ?? DEFAULT_GP_CANDIDATES;
    this.maxPoints = ctx.options.maxPoints ?? DEFAULT_GP_MAX_POINTS;
    for (const [k, v, min] of [['initial', this.initial, 0], ['candidates', this.candidates, 1], ['maxPoints', this.maxPoints, 4]] as const) {
      if (!Number.isInteger(v) || v < min) throw new Error(`gp: ${k} must be an integer >= ${min}, got ${v}`);
    }
  }

  propose(history: readonly Trial[], ids: number[]): Params[] {
    const view = viewHistory(history, this.ctx.direction);
    const observed = this.select(modelObservations(view, this.ctx.direction));
    const seen = new Set(history.map((t) => paramsKey(t.params)));
    let model: GaussianProcess | null = null;
    let best = 0;
    const out: Params[] = [];
    for (const id of ids) {
      let params: Params;
      if (id < this.initial || observed.length < 2) {
        params = randomParams(this.ctx, id, GP_STREAM);
      } else {
        if (!model) {
          model = this.fit(observed);
          const fitted = model.fittedMeans();
          best = Math.min(...fitted);
          for (const t of view.inflight) {
            const x = this.encoder.encode(t.params);
            model = model.withPoint(x, model.predict(x).mean);
          }
        }
        params = this.maximiseEi(model, best, observed, new Rng(this.ctx.seed, id, GP_STREAM), seen) ?? randomParams(this.ctx, id, GP_STREAM);
      }
      seen.add(paramsKey(params));
      if (model) {
        const x = this.encoder.encode(params);
        model = model.withPoint(x, model.predict(x).mean);
      }
      out.push(params);
    }
    return out;
  }

  /** the best half and the most recent half when there are more than maxPoints */
  private select(obs: Scored[]): Scored[] {
    if (obs.length <= this.maxPoints) return obs;
    const half = Math.floor(this.maxPoints / 2);
    const byLoss = [...obs].sort((a, b) => a.loss - b.loss || a.trial.id - b.trial.id).slice(0, half);
    const keep = new Set(byLoss);
    for (let i = obs.length - 1; i >= 0 && keep.size < this.maxPoints; i--) keep.add(obs[i]);
    return obs.filter((s) => keep.has(s));
  }

  private fit(observed: Scored[]): GaussianProcess {
    const losses = observed.map((s) => s.loss);
    const mean = losses.reduce((a, b) => a + b, 0) / losses.length;
    const sd = Math.sqrt(losses.reduce((a, b) => a + (b - mean) ** 2, 0) / losses.length) || 1;
    const X = observed.map((s) => this.encoder.encode(s.trial.params));
    const y = Float64Array.from(losses, (l) => (l - mean) / sd);
    const nGroups = this.encoder.names.length;
    // the fit uses an evenly spread subset when the model is large
    const stride = Math.max(1, Math.ceil(X.length / FIT_POINTS));
    const fitIdx = X.map((_, i) => i).filter((i) => i % stride === 0);
    const hyper = fitHyperparameters(fitIdx.map((i) => X[i]), Float64Array.from(fitIdx, (i) => y[i]), this.groups, nGroups);
    return new GaussianProcess(X, y, hyper, this.groups);
  }

  private unitsOf(params: Params, rng: Rng): Float64Array {
    return Float64Array.from(this.order, (n) => (params[n] === undefined ? rng.uniform() : toUnit(this.ctx.space[n], params[n])));
  }

  private paramsOf(u: Float64Array): Params {
    const units: Record<string, number> = {};
    this.order.forEach((n, i) => (units[n] = u[i]));
    return paramsFromUnits(this.ctx.space, units, this.order);
  }

  private maximiseEi(model: GaussianProcess, best: number, observed: Scored[], rng: Rng, seen: Set<string>): Params | null {
    const D = this.order.length;
    const score = (u: Float64Array): { params: Params; key: string; value: number } => {
      const params = this.paramsOf(u);
      const key = paramsKey(params);
      if (seen.has(key)) return { params, key, value: -Infinity };
      const p = model.predict(this.encoder.encode(params));
      return { params, key, value: logExpectedImprovement(p.mean, p.sd, best) };
    };
    const pool: { u: Float64Array; value: number; params: Params }[] = [];
    for (let i = 0; i < this.candidates; i++) {
      const u = Float64Array.from({ length: D }, () => rng.uniform());
      pool.push({ u, ...score(u) });
    }
    const leaders = [...observed].sort((a, b) => a.loss - b.loss).slice(0, LOCAL_LEADERS);
    for (const s of leaders) {
      const base = this.unitsOf(s.trial.params, rng);
      for (let i = 0; i < LOCAL_PER_LEADER; i++) {
        const u = this.perturb(base, 0.1, rng);
        pool.push({ u, ...score(u) });
      }
    }
    pool.sort((a, b) => b.value - a.value);
    let winner = pool[0];
    for (const start of pool.slice(0, REFINE_STARTS)) {
      if (start.value === -Infinity) break;
      let cur = start;
      let sd = 0.1;
      for (let step = 0; step < REFINE_STEPS; step++) {
        const u = this.perturb(cur.u, sd, rng);
        const cand = { u, ...score(u) };
        if (cand.value > cur.value) {
          cur = cand;
          sd = Math.min(0.3, sd * 1.5);
        } else {
          sd = Math.max(1e-3, sd * 0.8);
        }
      }
      if (cur.value > winner.value) winner = cur;
    }
    return winner.value === -Infinity ? null : winner.params;
  }

  /** gaussian steps on numeric genes; a categorical gene is redrawn with probability 1/D */
  private perturb(base: Float64Array, sd: number, rng: Rng): Float64Array {
    const D = base.length;
    const u = Float64Array.from(base);
    for (let i = 0; i < D; i++) {
      if (this.ctx.space[this.order[i]].type === 'categorical') {
        if (rng.uniform() < 1 / D) u[i] = rng.uniform();
      } else {
        u[i] = Math.min(1, Math.max(0, u[i] + rng.normal(0, sd)));
      }
    }
    return u;
  }
}
