/**
 * The NNLO genetic algorithm (Vlimant et al.), made asynchronous: trial ids
 * are cut into generations of `population`; generation 0 is random; a child
 * of generation g takes two parents by tournament (size 2) from the pool =
 * the elites (best population/5 of everything finished before generation g)
 * plus the finished members of the latest earlier generation, so a child never
 * waits for a whole generation. Crossover is NNLO's `better + U·(better-worse)`
 * per numeric gene (a random parent's choice for categoricals); mutation is
 * NNLO's non-uniform `δ = 1-u^((1-g/G)^3)` toward a random bound, applied per
 * gene with probability `mutation`. Genes live in the unit interval of toUnit.
 */
import { Rng } from '../../data/rng';
import { dimensionOrder, paramsFromUnits, paramsKey, toUnit } from '../space';
import type { Params, Trial } from '../types';
import { randomParams } from './random';
import { type Sampler, type SamplerContext, type Scored, modelObservations, viewHistory } from './sampler';

export const DEFAULT_POPULATION = 10;
export const DEFAULT_MUTATION = 0.25;
export const DEFAULT_CROSSOVER = 0.7;
const GA_STREAM = 0x47454e45;

export class GeneticSampler implements Sampler {
  private readonly population: number;
  private readonly mutation: number;
  private readonly crossover: number;
  private readonly order: string[];

  constructor(private readonly ctx: SamplerContext) {
    this.population = ctx.options.population ?? DEFAULT_POPULATION;
    this.mutation = ctx.options.mutation ?? DEFAULT_MUTATION;
    this.crossover = ctx.options.crossover ?? DEFAULT_CROSSOVER;
    if (!Number.isInteger(this.population) || this.population < 2) throw new Error(`genetic: population must be an integer >= 2, got ${this.population}`);
    for (const [k, p] of [['mutation', this.mutation], ['crossover', this.crossover]] as const) {
      if (!(p >= 0 && p <= 1)) throw new Error(`genetic: ${k} must be a probability in [0, 1], got ${p}`);
    }
    this.order = dimensionOrder(ctx.space);
  }

  propose(history: readonly Trial[], ids: number[]): Params[] {
    const seen = new Set(history.map((t) => paramsKey(t.params)));
    const scored = modelObservations(viewHistory(history, this.ctx.direction), this.ctx.direction);
    return ids.map((id) => {
      const p = this.child(scored, id, seen);
      seen.add(paramsKey(p));
      return p;
    });
  }

  generation(id: number): number {
    return Math.floor(id / this.population);
  }

  private pool(scored: Scored[], g: number): Scored[] {
    const before = scored.filter((s) => this.generation(s.trial.id) < g).sort((a, b) => a.loss - b.loss || a.trial.id - b.trial.id);
    if (before.length < 2) return before;
    const elites = before.slice(0, Math.max(1, Math.floor(this.population / 5)));
    const latest = Math.max(...before.map((s) => this.generation(s.trial.id)));
    const pool = [...elites];
    for (const s of before) if (this.generation(s.trial.id) === latest && !pool.includes(s)) pool.push(s);
    for (const s of before) if (pool.length < 2 && !pool.includes(s)) pool.push(s);
    return pool;
  }

  private child(scored: Scored[], id: number, seen: Set<string>): Params {
    const g = this.generation(id);
    const pool = this.pool(scored, g);
    if (g === 0 || pool.length < 2) return randomParams(this.ctx, id, GA_STREAM);
    const rng = new Rng(this.ctx.seed, id, GA_STREAM);
    const generations = Math.max(1, Math.ceil(this.ctx.budget / this.population));
    const shrink = Math.pow(Math.max(0, 1 - g / generations), 3);
    for (let attempt = 0; attempt < 8; attempt++) {
      const a = tournament(pool, rng);
      let b = tournament(pool, rng);
      for (let k = 0; k < 4 && b === a; k++) b = tournament(pool, rng);
      const [better, worse] = a.loss <= b.loss ? [a, b] : [b, a];
      const cross = rng.uniform() < this.crossover;
      const u = rng.uniform();
      const genes: Record<string, number> = {};
      for (const name of this.order) {
        const d = this.ctx.space[name];
        const bv = better.trial.params[name];
        const wv = worse.trial.params[name];
        let x: number;
        if (bv === undefined) x = rng.uniform();
        else if (!cross || wv === undefined) x = toUnit(d, bv);
        else if (d.type === 'categorical') x = toUnit(d, rng.uniform() < 0.5 ? bv : wv);
        else x = clamp(toUnit(d, bv) + u * (toUnit(d, bv) - toUnit(d, wv)));
        // a retry after a duplicate mutates harder
        if (rng.uniform() < Math.min(1, this.mutation * (1 + attempt))) {
          if (d.type === 'categorical') x = rng.uniform();
          else {
            const delta = 1 - Math.pow(rng.uniform(), shrink);
            x = rng.uniform() < 0.5 ? x + delta * (1 - x) : x - delta * x;
          }
        }
        genes[name] = clamp(x);
      }
      const params = paramsFromUnits(this.ctx.space, genes, this.order);
      if (!seen.has(paramsKey(params))) return params;
    }
    return randomParams(this.ctx, id, GA_STREAM);
  }
}

function tournament(pool: Scored[], rng: Rng): Scored {
  const a = pool[rng.int(pool.length)];
  const b = pool[rng.int(pool.length)];
  return a.loss <= b.loss ? a : b;
}

function clamp(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
