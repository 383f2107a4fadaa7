/** Random search: each trial's parameters drawn uniformly from its own seeded stream. */
import { Rng } from '../../data/rng';
import { dimensionOrder, sampleParams } from '../space';
import type { Params, Trial } from '../types';
import type { Sampler, SamplerContext } from './sampler';

/** stream salt, so that the samplers' random draws for a trial id differ from each other's */
export const RANDOM_STREAM = 0x52414e44;

export function randomParams(ctx: SamplerContext, id: number, salt = RANDOM_STREAM): Params {
  return sampleParams(ctx.space, new Rng(ctx.seed, id, salt), dimensionOrder(ctx.space));
}

export class RandomSampler implements Sampler {
  constructor(private readonly ctx: SamplerContext) {}

  propose(_history: readonly Trial[], ids: number[]): Params[] {
    return ids.map((id) => randomParams(this.ctx, id));
  }
}
