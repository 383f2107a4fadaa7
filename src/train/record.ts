import * as fs from 'node:fs';
import * as path from 'node:path';
import { trainingCurvesFigure, writeFiguresHtml, type CurveSeries } from '../plots';
import type { TrainEvent } from './loop';

/**
 * Keeps a run's record under `<output>/logs/`: every log line in
 * `train_rank<r>.log` and every training event as a JSON line in
 * `metrics_rank<r>.jsonl` (the source of the training-curves report). A fresh
 * run truncates both; a resumed run appends.
 */
export class RunRecorder {
  readonly logPath: string;
  readonly metricsPath: string;

  constructor(logsDir: string, readonly rank: number, append: boolean) {
    fs.mkdirSync(logsDir, { recursive: true });
    this.logPath = path.join(logsDir, `train_rank${rank}.log`);
    this.metricsPath = path.join(logsDir, `metrics_rank${rank}.jsonl`);
    if (!append) {
      fs.writeFileSync(this.logPath, '');
      fs.writeFileSync(this.metricsPath, '');
    }
  }

  line(text: string): void {
    fs.appendFileSync(this.logPath, text + '\n');
  }

  event(event: TrainEvent): void {
    fs.appendFileSync(this.metricsPath, JSON.stringify({ time: Date.now() / 1000, ...event }) + '\n');
  }

  /** Training loss per step and validation metrics per epoch, from the whole metrics file. */
  curves(): CurveSeries[] {
    const events = readEvents(this.metricsPath);
    const name = `rank ${this.rank}`;
    const steps = events.filter((e): e is Extract<TrainEvent, { type: 'step' }> => e.type === 'step');
    const validation = events.filter((e): e is Extract<TrainEvent, { type: 'validation' }> => e.type === 'validation');
    const series: CurveSeries[] = [{ name, metric: 'loss', x: steps.map((e) => e.step), y: steps.map((e) => e.loss) }];
    if (validation.length > 0) {
      const x = validation.map((e) => e.step);
      series.push(
        { name, metric: 'loss', split: 'validation', x, y: validation.map((e) => e.loss) },
        { name, metric: 'accuracy', split: 'validation', x, y: validation.map((e) => e.accuracy) },
        { name, metric: 'auc', split: 'validation', x, y: validation.map((e) => e.auc) },
      );
    }
    return series;
  }

  /** `<plotsDir>/training.html`: loss, validation accuracy and AUC against the global step. */
  writeCurves(plotsDir: string, title: string): string {
    const file = path.join(plotsDir, 'training.html');
    fs.mkdirSync(plotsDir, { recursive: true });
    writeFiguresHtml(file, [trainingCurvesFigure(this.curves(), { xAxis: 'step', title })], title);
    return file;
  }
}

function readEvents(file: string): TrainEvent[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as TrainEvent];
      } catch {
        return []; // a line cut short by a crash
      }
    });
}
