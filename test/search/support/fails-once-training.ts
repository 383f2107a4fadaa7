/**
 * A `{ buildModel, batchSource }` training (the toy MLP of the
 * distributed-training tests) whose rank 0 throws the first time it runs:
 * it writes the run config's `marker` file, then fails; later attempts train.
 * The search test of data-parallel trials uses it for the retry on other engines.
 */
import * as fs from 'node:fs';
import type { UserTraining } from '../../../src/train';
import { training as toy } from '../../train-distributed/toy-mlp';

export const training: UserTraining = {
  buildModel: (ctx) => {
    const marker = String(ctx.config.marker);
    if (ctx.rank === 0 && !fs.existsSync(marker)) {
      fs.writeFileSync(marker, `${process.pid}\n`);
      throw new Error('fails-once-training: the first attempt fails on purpose');
    }
    return toy.buildModel(ctx);
  },
  batchSource: (ctx) => toy.batchSource(ctx),
};
