import * as fs from 'node:fs';
import * as path from 'node:path';
import { trainingCurvesFigure, writeFiguresHtml, type CurveSeries } from '../plots';
import type { TrainEvent } from './loop';

/**
 * Keeps a run's record under `<output>/logs/`: every log line in
 * `train_rank<r>.log` and every training event as a JSON line in
 * `metrics_rank<r>.jsonl` (the source of the training-curves report). It only
 * appends: a resumed run continues the files, a fresh run finds them moved
 * aside by `setAsidePreviousRun`, so no earlier run's record is ever truncated.
 */
export class RunRecorder {
  readonly logPath: string;
  readonly metricsPath: string;

  constructor(logsDir: string, readonly rank: number) {
    fs.mkdirSync(logsDir, { recursive: true });
    this.logPath = path.join(logsDir, `train_rank${rank}.log`);
    this.metricsPath = path.join(logsDir, `metrics_rank${rank}.jsonl`);
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

/** What `setAsidePreviousRun` moved, for the line that says so. */
export interface SetAside {
  dir: string;
  /** e.g. "3 checkpoints (newest: global step 20) and 2 log files" */
  describe: string;
}

/**
 * Before a fresh start into an output directory that holds an earlier run: move that run's
 * checkpoints (when `checkpoints`, i.e. on the rank that writes them) and this rank's log files
 * into `<output>/previous/<time>/`, so the new run overwrites and truncates nothing. Returns
 * undefined when there was nothing to move.
 */
export function setAsidePreviousRun(outputDir: string, rank: number, checkpoints: boolean): SetAside | undefined {
  const modelsDir = path.join(outputDir, 'models');
  const logsDir = path.join(outputDir, 'logs');
  const ckpt = checkpoints && fs.existsSync(modelsDir) ? fs.readdirSync(modelsDir).filter((f) => /^ckpt-\d+\./.test(f)) : [];
  const ownLogs = new RegExp(`^(train|metrics|summary)_rank${rank}\\.(log|jsonl)$`);
  const logs = fs.existsSync(logsDir) ? fs.readdirSync(logsDir).filter((f) => ownLogs.test(f) && fs.statSync(path.join(logsDir, f)).size > 0) : [];
  if (ckpt.length === 0 && logs.length === 0) return undefined;
  const dir = path.join(outputDir, 'previous', new Date().toISOString().replace(/[:.]/g, '-'));
  const move = (from: string, names: string[], sub: string) => {
    if (names.length === 0) return;
    fs.mkdirSync(path.join(dir, sub), { recursive: true });
    for (const name of names) fs.renameSync(path.join(from, name), path.join(dir, sub, name));
  };
  move(modelsDir, ckpt, 'models');
  move(logsDir, logs, 'logs');
  const manifests = ckpt.filter((f) => f.endsWith('.json')).sort();
  const parts: string[] = [];
  if (manifests.length > 0) {
    const newest = Number(/^ckpt-(\d+)/.exec(manifests[manifests.length - 1])![1]);
    parts.push(`${manifests.length} checkpoint${manifests.length === 1 ? '' : 's'} (newest: global step ${newest})`);
  }
  if (logs.length > 0) parts.push(`${logs.length} log file${logs.length === 1 ? '' : 's'}`);
  return { dir, describe: parts.join(' and ') };
}
