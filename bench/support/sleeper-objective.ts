/**
 * The objective of the utilisation bench: a trial that sleeps `seconds`,
 * reporting every 100 ms "epoch" like a training would.
 */
import { report } from '../../cluster/engine/task-api';

export async function sleeper(params: { seconds: number }): Promise<number> {
  const epochs = Math.max(1, Math.round(params.seconds * 10));
  const start = Date.now();
  for (let epoch = 1; epoch <= epochs; epoch++) {
    // sleep to the epoch's planned end, so the trial lasts `seconds` whatever the timer drift
    await new Promise((r) => setTimeout(r, Math.max(0, start + (params.seconds * 1000 * epoch) / epochs - Date.now())));
    report({ epoch, value: params.seconds });
  }
  return params.seconds;
}
