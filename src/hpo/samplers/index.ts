/** The samplers by name. */
import type { AlgorithmName } from '../types';
import { GeneticSampler } from './genetic';
import { GpSampler } from './gp';
import { GridSampler } from './grid';
import { RandomSampler } from './random';
import type { Sampler, SamplerContext } from './sampler';
import { TpeSampler } from './tpe';

export const ALGORITHMS: readonly AlgorithmName[] = ['random', 'grid', 'gp', 'tpe', 'genetic'];

export function createSampler(name: AlgorithmName, ctx: SamplerContext): Sampler {
  switch (name) {
    case 'random':
      return new RandomSampler(ctx);
    case 'grid':
      return new GridSampler(ctx);
    case 'gp':
      return new GpSampler(ctx);
    case 'tpe':
      return new TpeSampler(ctx);
    case 'genetic':
      return new GeneticSampler(ctx);
  }
}

export type { Sampler, SamplerContext } from './sampler';
export { RandomSampler, GridSampler, GpSampler, TpeSampler, GeneticSampler };
