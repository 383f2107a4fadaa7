/** The pruners by name. */
import type { StudyOptions } from '../types';
import { AshaPruner } from './asha';
import { MedianPruner } from './median';
import { type Pruner, PrunerOptionsError } from './pruner';

export function createPruner(spec: StudyOptions['pruner']): Pruner | null {
  if (spec === undefined || spec === 'none') return null;
  const opts = typeof spec === 'string' ? { name: spec } : spec;
  if (opts === null || typeof opts !== 'object') throw new PrunerOptionsError(`pruner must be "none", "median", "asha" or { name, ...options }, got ${JSON.stringify(spec)}`);
  switch (opts.name) {
    case 'none':
      return null;
    case 'median':
      return new MedianPruner(opts);
    case 'asha':
      return new AshaPruner(opts);
    default:
      throw new PrunerOptionsError(`pruner.name must be "none", "median" or "asha", got ${JSON.stringify(opts.name)}`);
  }
}

export type { Pruner } from './pruner';
export { PrunerOptionsError, MedianPruner, AshaPruner };
