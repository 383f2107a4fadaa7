/**
 * Task module: trains a HEP classifier on an engine. The training's log lines
 * go to the task's stdout (streamed to the client as `[stdout:N]`) and its
 * step, validation and checkpoint events are published with `report()`.
 *
 * This is where the cluster meets the training code: the engine loads this
 * module by path; the controller never sees it.
 */
import { train, type TrainOptions, type TrainRunResult } from '../../src/train';
import { report } from '../engine/task-api';

/** The options of `train()` that can cross the wire (no callbacks, no streams). */
export type RemoteTrainOptions = Omit<TrainOptions, 'log' | 'onEvent' | 'progress' | 'signal' | 'reduceGradients'>;

const REPORTED_EVENTS = new Set(['step', 'validation', 'checkpoint', 'done']);

export async function trainHep(opts: RemoteTrainOptions): Promise<TrainRunResult> {
  const result = await train({
    ...opts,
    log: (line) => console.log(line),
    onEvent: (event) => {
      if (REPORTED_EVENTS.has(event.type)) report({ ...event });
    },
  });
  if (result.mode !== 'train') throw new Error('trainHep: iotest runs are not remote trainings');
  return result;
}
