/**
 * The toy MLP (./toy-mlp.ts) with one slow worker: rank `slowRank` of the
 * workers sleeps `slowMs` before each training batch, so its gradients reach
 * a synchronous parameter server late (the hot-spare test).
 */
import type { UserTraining } from '../../src/train';
import { ToyMlp, ToySource } from './toy-mlp';

export const training: UserTraining = {
  buildModel: (ctx) => new ToyMlp(ctx.seed, Number(ctx.config.hidden ?? 32)),
  batchSource: (ctx) => {
    const globalBatch = ctx.batchSize * ctx.size;
    if (ctx.split !== 'train') return new ToySource(512, globalBatch, ctx.rank, ctx.size, ctx.seed + 1);
    const slow = ctx.rank === Number(ctx.config.slowRank ?? -1) ? Number(ctx.config.slowMs ?? 0) : 0;
    return new ToySource(Number(ctx.config.events ?? 2048), globalBatch, ctx.rank, ctx.size, ctx.seed, slow);
  },
};
