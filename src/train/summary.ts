import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TrainEvent } from './loop';

/** Steps between loss summaries: the seed's SummarySaverHook and StepCounterHook (save_steps / every_n_steps 100). */
export const SUMMARY_STEPS = 100;

/**
 * The config's `create_summary`: scalars by global step in `<logs>/summary_rank<r>.jsonl`, one
 * JSON object a line, `{wall_time, step, tag, value}` (TensorBoard's scalar record, without its
 * file format). As the seed: `loss` and `global_step/sec` every SUMMARY_STEPS steps; and the
 * validation scalars (`validation/loss|accuracy|auc`, v2's `evaluation/...`) whenever they are computed.
 */
export class SummaryWriter {
  readonly path: string;
  private lastStep = 0;
  private lastTime = performance.now();

  constructor(logsDir: string, rank: number) {
    fs.mkdirSync(logsDir, { recursive: true });
    this.path = path.join(logsDir, `summary_rank${rank}.jsonl`);
  }

  event(event: TrainEvent): void {
    if (event.type === 'start') {
      this.lastStep = event.startStep;
      this.lastTime = performance.now();
    } else if (event.type === 'step' && Math.floor(event.step / SUMMARY_STEPS) > Math.floor((event.step - 1) / SUMMARY_STEPS)) {
      const now = performance.now();
      this.write(event.step, 'loss', event.loss);
      if (event.step > this.lastStep && now > this.lastTime) this.write(event.step, 'global_step/sec', (event.step - this.lastStep) / ((now - this.lastTime) / 1000));
      this.lastStep = event.step;
      this.lastTime = now;
    } else if (event.type === 'validation' || event.type === 'evaluation') {
      const prefix = event.type === 'validation' ? 'validation' : `evaluation ${event.kind}`;
      this.write(event.step, `${prefix}/loss`, event.loss);
      this.write(event.step, `${prefix}/accuracy`, event.accuracy);
      this.write(event.step, `${prefix}/auc`, event.auc);
    }
  }

  private write(step: number, tag: string, value: number): void {
    fs.appendFileSync(this.path, JSON.stringify({ wall_time: Date.now() / 1000, step, tag, value }) + '\n');
  }
}
