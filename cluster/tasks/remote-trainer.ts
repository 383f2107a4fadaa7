/**
 * Client side of `hep-train.ts`: a drop-in for `train()` that runs the
 * training on an engine of a cluster and relays its validation results.
 */
import * as path from 'node:path';
import { formatG, type TrainOptions, type TrainRunResult } from '../../src/train';
import type { Cluster } from '../client';
import type { RemoteTrainOptions } from './hep-train';

/** The compiled task module when running from dist/, the TypeScript one under tsx. */
function taskModulePath(): string {
  const ext = path.extname(__filename) === '.ts' ? '.ts' : '.js';
  return path.join(__dirname, `hep-train${ext}`);
}

function remoteOptions(opts: TrainOptions): RemoteTrainOptions {
  const { log: _log, onEvent: _onEvent, progress: _progress, signal: _signal, reduceGradients: _reduce, ...rest } = opts;
  return rest;
}

export function remoteTrainer(cluster: Cluster, log: (line: string) => void = (l) => console.log(l)) {
  return async (opts: TrainOptions): Promise<TrainRunResult> => {
    const handle = cluster.balanced().submit<TrainRunResult>({ module: taskModulePath(), export: 'trainHep' }, remoteOptions(opts));
    handle.onReport((event, engineId) => {
      if (event.type === 'validation') {
        const epoch = Number(event.epoch) + 1;
        log(`[report:${engineId}] epoch ${epoch}: validation loss ${formatG(Number(event.loss), 4)}, accuracy ${formatG(Number(event.accuracy), 4)}, AUC ${formatG(Number(event.auc), 4)}`);
      }
    });
    return handle;
  };
}
