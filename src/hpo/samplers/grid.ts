/**
 * Grid search: every categorical choice × `levels` evenly spaced values per
 * numeric dimension (log-spaced for log dimensions; fewer for short integer
 * ranges), conditional dimensions only where active. Visited in declaration
 * order (the first dimension varies slowest; choices and levels in their
 * order), the same for every seed; finite.
 */
import { dimensionOrder, fromUnit, isActive, paramsKey, SpaceError } from '../space';
import type { Dimension, ParamValue, Params, SearchSpace, Trial } from '../types';
import type { Sampler, SamplerContext } from './sampler';

export const DEFAULT_GRID_LEVELS = 5;
/** beyond this the grid is surely a mistake (and would take noticeable memory) */
const MAX_GRID_POINTS = 1_000_000;

export function gridLevels(d: Dimension, levels: number): ParamValue[] {
  if (d.type === 'categorical') return [...d.choices];
  const out: ParamValue[] = [];
  for (let i = 0; i < levels; i++) {
    const v = levels === 1 ? fromUnit(d, 0.5) : d.type === 'int' ? intLevel(d, i / (levels - 1)) : fromUnit(d, i / (levels - 1));
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/** integer levels include both ends (the unit cells of toUnit would round the ends inward) */
function intLevel(d: Extract<Dimension, { type: 'int' }>, t: number): number {
  const step = d.step ?? 1;
  const x = d.log ? Math.exp(Math.log(d.low) + t * (Math.log(d.high) - Math.log(d.low))) : d.low + t * (d.high - d.low);
  return d.low + Math.round((x - d.low) / step) * step;
}

export function gridPoints(space: SearchSpace, levels: number): Params[] {
  if (!Number.isInteger(levels) || levels < 1) throw new SpaceError(`grid levels must be a positive integer, got ${levels}`);
  const order = dimensionOrder(space);
  const values = new Map(order.map((n) => [n, gridLevels(space[n], levels)]));
  const points: Params[] = [];
  const walk = (i: number, params: Params): void => {
    if (points.length > MAX_GRID_POINTS) throw new SpaceError(`the grid has more than ${MAX_GRID_POINTS} points; lower levels or the number of choices`);
    if (i === order.length) {
      points.push({ ...params });
      return;
    }
    const name = order[i];
    if (!isActive(space[name].when, params)) return walk(i + 1, params);
    for (const v of values.get(name)!) {
      params[name] = v;
      walk(i + 1, params);
    }
    delete params[name];
  };
  walk(0, {});
  return points;
}

export class GridSampler implements Sampler {
  readonly size: number;
  private readonly points: Params[];
  /** cache of remaining(): trials only ever get added, and their params never change */
  private counted = -1;
  private left = 0;

  constructor(ctx: SamplerContext) {
    this.points = gridPoints(ctx.space, ctx.options.levels ?? DEFAULT_GRID_LEVELS);
    this.size = this.points.length;
  }

  remaining(history: readonly Trial[]): number {
    if (history.length === this.counted) return this.left;
    const keys = new Set(this.points.map(paramsKey));
    let held = 0;
    for (const k of new Set(history.map((t) => paramsKey(t.params)))) if (keys.has(k)) held++;
    this.counted = history.length;
    this.left = this.size - held;
    return this.left;
  }

  /** the next points in grid order that no trial holds yet (enqueued trials may hold grid points) */
  propose(history: readonly Trial[], ids: number[]): Params[] {
    const seen = new Set(history.map((t) => paramsKey(t.params)));
    const out: Params[] = [];
    for (let i = 0; i < this.size && out.length < ids.length; i++) {
      const p = this.points[i];
      if (!seen.has(paramsKey(p))) out.push({ ...p });
    }
    if (out.length < ids.length) throw new Error(`grid: ${ids.length} points asked, ${out.length} left of ${this.size}`);
    return out;
  }
}
