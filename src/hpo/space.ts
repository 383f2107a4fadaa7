/**
 * Search spaces: validation (errors name the dimension), conditional
 * dimensions, uniform sampling, and the per-dimension unit value in [0, 1]
 * that the model-based samplers work in.
 */
import type { Condition, Dimension, ParamValue, Params, SearchSpace } from './types';

export class SpaceError extends Error {
  override name = 'SpaceError';
}

/** anything with a uniform draw in [0, 1) (the data Rng fits) */
export interface UniformSource { uniform(): number }

const DIMENSION_FIELDS: Record<Dimension['type'], string[]> = {
  int: ['type', 'low', 'high', 'step', 'log', 'when'],
  float: ['type', 'low', 'high', 'log', 'when'],
  categorical: ['type', 'choices', 'when'],
};

function isParamValue(v: unknown): v is ParamValue {
  return (typeof v === 'number' && Number.isFinite(v)) || typeof v === 'string' || typeof v === 'boolean';
}

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Checks a search space and returns it typed; the error names the first bad dimension and field. */
export function validateSpace(space: unknown, where = 'space'): SearchSpace {
  if (space === null || typeof space !== 'object' || Array.isArray(space)) {
    throw new SpaceError(`${where} must be an object of named dimensions, got ${Array.isArray(space) ? 'an array' : show(space)}`);
  }
  const names = Object.keys(space);
  if (names.length === 0) throw new SpaceError(`${where} has no dimensions`);
  const dims = space as Record<string, unknown>;
  for (const name of names) validateDimension(dims[name], `${where}.${name}`);
  const typed = space as SearchSpace;
  for (const name of names) validateCondition(typed, name, `${where}.${name}`);
  dimensionOrder(typed, where);
  return typed;
}

function validateDimension(raw: unknown, at: string): void {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new SpaceError(`${at} must be an object with a "type", got ${show(raw)}`);
  const d = raw as Record<string, unknown>;
  if (d.type !== 'int' && d.type !== 'float' && d.type !== 'categorical') {
    throw new SpaceError(`${at}.type must be "int", "float" or "categorical", got ${show(d.type)}`);
  }
  for (const key of Object.keys(d)) {
    if (!DIMENSION_FIELDS[d.type].includes(key)) throw new SpaceError(`${at}: unknown field "${key}" for a ${d.type} dimension (allowed: ${DIMENSION_FIELDS[d.type].join(', ')})`);
  }
  if (d.type === 'categorical') {
    if (!Array.isArray(d.choices) || d.choices.length === 0) throw new SpaceError(`${at}.choices must be a non-empty array, got ${show(d.choices)}`);
    const seen = new Set<ParamValue>();
    for (const c of d.choices) {
      if (!isParamValue(c)) throw new SpaceError(`${at}.choices: each choice must be a finite number, a string or a boolean, got ${show(c)}`);
      if (seen.has(c)) throw new SpaceError(`${at}.choices: ${show(c)} appears twice`);
      seen.add(c);
    }
    return;
  }
  for (const f of ['low', 'high'] as const) {
    if (typeof d[f] !== 'number' || !Number.isFinite(d[f])) throw new SpaceError(`${at}.${f} must be a finite number, got ${show(d[f])}`);
  }
  const low = d.low as number;
  const high = d.high as number;
  if (!(low < high)) throw new SpaceError(`${at}: low must be < high, got ${low} and ${high}`);
  if (d.log !== undefined && typeof d.log !== 'boolean') throw new SpaceError(`${at}.log must be true or false, got ${show(d.log)}`);
  if (d.log && low <= 0) throw new SpaceError(`${at}: a log dimension needs low > 0, got ${low}`);
  if (d.type === 'int') {
    if (!Number.isInteger(low) || !Number.isInteger(high)) throw new SpaceError(`${at}: low and high of an int dimension must be integers, got ${low} and ${high}`);
    if (d.step !== undefined) {
      if (typeof d.step !== 'number' || !Number.isInteger(d.step) || d.step < 1) throw new SpaceError(`${at}.step must be a positive integer, got ${show(d.step)}`);
      if ((high - low) % d.step !== 0) throw new SpaceError(`${at}: high - low must be a multiple of step, got ${high} - ${low} and step ${d.step}`);
      if (d.log && d.step !== 1) throw new SpaceError(`${at}: step and log cannot be combined (step ${d.step})`);
    }
  }
}

function validateCondition(space: SearchSpace, name: string, at: string): void {
  const when = space[name].when as unknown;
  if (when === undefined) return;
  if (when === null || typeof when !== 'object' || Array.isArray(when) || Object.keys(when).length === 0) {
    throw new SpaceError(`${at}.when must be an object naming parameters and their allowed values, got ${show(when)}`);
  }
  for (const [parent, values] of Object.entries(when as Record<string, unknown>)) {
    if (parent === name) throw new SpaceError(`${at}.when refers to the dimension itself`);
    const p = space[parent];
    if (!p) throw new SpaceError(`${at}.when.${parent}: no such dimension (dimensions: ${Object.keys(space).join(', ')})`);
    if (!Array.isArray(values) || values.length === 0) throw new SpaceError(`${at}.when.${parent} must be a non-empty array of values, got ${show(values)}`);
    for (const v of values) {
      if (!isPossible(p, v)) throw new SpaceError(`${at}.when.${parent}: ${show(v)} is not a possible value of ${parent}`);
    }
  }
}

function isPossible(d: Dimension, v: unknown): boolean {
  if (d.type === 'categorical') return d.choices.includes(v as ParamValue);
  if (typeof v !== 'number' || v < d.low || v > d.high) return false;
  return d.type === 'float' || (Number.isInteger(v) && (v - d.low) % (d.step ?? 1) === 0);
}

/** Dimension names with every condition's parents before the dimension (declaration order otherwise). */
export function dimensionOrder(space: SearchSpace, where = 'space'): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') throw new SpaceError(`${where}.${name}: conditions form a cycle (${[...path, name].join(' → ')})`);
    state.set(name, 'visiting');
    for (const parent of Object.keys(space[name].when ?? {})) visit(parent, [...path, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of Object.keys(space)) visit(name, []);
  return order;
}

/** whether a dimension with condition `when` exists for these (partial) params */
export function isActive(when: Condition | undefined, params: Params): boolean {
  if (!when) return true;
  for (const [parent, values] of Object.entries(when)) {
    const v = params[parent];
    if (v === undefined || !values.includes(v)) return false;
  }
  return true;
}

/** The active dimensions' names for a full parameter set, in dimension order. */
export function activeNames(space: SearchSpace, params: Params): string[] {
  return Object.keys(space).filter((n) => params[n] !== undefined && isActive(space[n].when, params));
}

function logBounds(d: { low: number; high: number }, pad: number): [number, number] {
  return [Math.log(d.low - pad), Math.log(d.high + pad)];
}

/**
 * A dimension's value as a position in [0, 1]. Integers own equal-width
 * cells (so rounding back is uniform); categoricals sit at cell centres.
 */
export function toUnit(d: Dimension, v: ParamValue): number {
  if (d.type === 'categorical') {
    const i = d.choices.indexOf(v);
    return (i + 0.5) / d.choices.length;
  }
  const x = v as number;
  const pad = d.type === 'int' ? (d.step ?? 1) / 2 : 0;
  if (d.log) {
    const [a, b] = logBounds(d, pad);
    return clamp01((Math.log(x) - a) / (b - a));
  }
  return clamp01((x - (d.low - pad)) / (d.high - d.low + 2 * pad));
}

/** Inverse of toUnit: the valid value whose cell holds `u` (clamped into [0, 1]). */
export function fromUnit(d: Dimension, u: number): ParamValue {
  u = clamp01(u);
  if (d.type === 'categorical') return d.choices[Math.min(d.choices.length - 1, Math.floor(u * d.choices.length))];
  if (d.type === 'float') {
    // the ends exactly (exp(log(low)) is not always low)
    if (u === 0) return d.low;
    if (u === 1) return d.high;
    const x = d.log ? Math.exp(Math.log(d.low) + u * (Math.log(d.high) - Math.log(d.low))) : d.low + u * (d.high - d.low);
    return Math.min(d.high, Math.max(d.low, x));
  }
  const step = d.step ?? 1;
  const pad = step / 2;
  const x = d.log ? Math.exp(logBounds(d, pad)[0] + u * (logBounds(d, pad)[1] - logBounds(d, pad)[0])) : d.low - pad + u * (d.high - d.low + 2 * pad);
  const k = Math.round((x - d.low) / step);
  return Math.min(d.high, Math.max(d.low, d.low + k * step));
}

export function clamp01(u: number): number {
  return u < 0 ? 0 : u > 1 ? 1 : u;
}

/** One uniform draw of a dimension (log dimensions uniform in log space). */
export function sampleDimension(d: Dimension, rng: UniformSource): ParamValue {
  return fromUnit(d, rng.uniform());
}

/** A full parameter set: each active dimension drawn uniformly, inactive ones absent. */
export function sampleParams(space: SearchSpace, rng: UniformSource, order = dimensionOrder(space)): Params {
  const params: Params = {};
  for (const name of order) {
    const d = space[name];
    if (isActive(d.when, params)) params[name] = sampleDimension(d, rng);
  }
  return params;
}

/** Builds params from unit values in dimension order, skipping dimensions whose condition fails. */
export function paramsFromUnits(space: SearchSpace, units: Record<string, number>, order = dimensionOrder(space)): Params {
  const params: Params = {};
  for (const name of order) {
    const d = space[name];
    if (isActive(d.when, params)) params[name] = fromUnit(d, units[name] ?? 0.5);
  }
  return params;
}

/**
 * Checks a full parameter set against the space: every active dimension
 * present with a possible value, nothing else. Returns the params in
 * dimension order; the error names the parameter.
 */
export function validateParams(space: SearchSpace, params: unknown, where = 'params'): Params {
  if (params === null || typeof params !== 'object' || Array.isArray(params)) throw new SpaceError(`${where} must be an object of parameter values, got ${show(params)}`);
  const given = params as Record<string, unknown>;
  for (const k of Object.keys(given)) if (!space[k]) throw new SpaceError(`${where}.${k}: no such dimension (dimensions: ${Object.keys(space).join(', ')})`);
  const out: Params = {};
  for (const name of dimensionOrder(space)) {
    const d = space[name];
    const v = given[name];
    if (!isActive(d.when, out)) {
      if (v !== undefined) throw new SpaceError(`${where}.${name}: given, but its condition ${JSON.stringify(d.when)} does not hold`);
      continue;
    }
    if (v === undefined) throw new SpaceError(`${where}.${name}: missing`);
    if (!isPossible(d, v)) throw new SpaceError(`${where}.${name}: ${show(v)} is not a possible value (${d.type === 'categorical' ? `choices ${JSON.stringify(d.choices)}` : `${d.type} in [${d.low}, ${d.high}]${d.type === 'int' && d.step ? ` step ${d.step}` : ''}`})`);
    out[name] = v as ParamValue;
  }
  return out;
}

/** A stable key for a parameter set (to spot repeats). */
export function paramsKey(params: Params): string {
  return JSON.stringify(Object.keys(params).sort().map((k) => [k, params[k]]));
}

/**
 * The unit-cube encoding for the Gaussian process: one coordinate per numeric
 * dimension (its unit value; 0.5 when inactive) and a one-hot block per
 * categorical dimension (all zero when inactive).
 */
export class SpaceEncoder {
  readonly names: string[];
  readonly width: number;
  private readonly offsets: number[];

  constructor(readonly space: SearchSpace) {
    this.names = Object.keys(space);
    this.offsets = [];
    let w = 0;
    for (const n of this.names) {
      this.offsets.push(w);
      const d = space[n];
      w += d.type === 'categorical' ? d.choices.length : 1;
    }
    this.width = w;
  }

  encode(params: Params, out = new Float64Array(this.width)): Float64Array {
    out.fill(0);
    this.names.forEach((n, i) => {
      const d = this.space[n];
      const v = params[n];
      const o = this.offsets[i];
      if (d.type === 'categorical') {
        if (v !== undefined) out[o + d.choices.indexOf(v)] = 1;
      } else {
        out[o] = v === undefined ? 0.5 : toUnit(d, v);
      }
    });
    return out;
  }
}
