/** What every pruner implements. */
import type { Direction, PruneDecision, Trial } from '../types';

export interface Pruner {
  /** called after `trial`'s newest report was appended; `trials` is the whole study */
  decide(trial: Trial, trials: readonly Trial[], direction: Direction): PruneDecision;
}

export class PrunerOptionsError extends Error {
  override name = 'PrunerOptionsError';
}

export function nonNegativeInt(opts: Record<string, unknown>, key: string, dflt: number, where: string, min = 0): number {
  const v = opts[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new PrunerOptionsError(`${where}.${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return v;
}
