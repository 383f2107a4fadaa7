/**
 * The live display of a distributed training in a notebook cell: per-rank and
 * global loss with the validation metrics, and a performance panel
 * (throughput per rank and summed, allreduce ms per step, its share of a
 * step). Built on src/plots' LiveFigure (throttled in-place updates).
 */
import { LiveFigure, trainingCurvesFigure, type CurveSeries, type LiveOutputOptions } from '../../src/plots';
import type { TrainingProgress, TrainingReport } from './training-progress';

export class TrainingDisplay {
  readonly curves: LiveFigure;
  readonly performance: LiveFigure;

  constructor(
    private readonly progress: TrainingProgress,
    private readonly title = 'distributed training',
    options: LiveOutputOptions = {},
  ) {
    this.curves = new LiveFigure(this.curvesFigure(), options);
    this.performance = new LiveFigure(this.performanceFigure(), options);
    progress.onReport((r) => this.update(r));
  }

  private update(report: TrainingReport): void {
    if (report.kind === 'global' || report.kind === 'group' || (report.kind === 'rank' && report.type === 'validation')) {
      this.curves.update(this.curvesFigure());
      if (report.kind !== 'rank') this.performance.update(this.performanceFigure());
    }
  }

  /** Loss per rank (its own batches) and averaged over the ranks; validation over every rank's events. */
  curvesFigure() {
    const series: CurveSeries[] = [];
    for (const [rank, steps] of this.progress.rankSteps) {
      series.push({ name: `rank ${rank}`, metric: 'loss', x: steps.map((s) => s.step), y: steps.map((s) => s.rankLoss) });
    }
    const g = this.progress.globalSteps;
    series.push({ name: 'global (mean of ranks)', metric: 'loss', x: g.map((s) => s.step), y: g.map((s) => s.loss) });
    const v = this.progress.validation;
    if (v.length > 0) {
      const x = v.map((e) => e.step);
      series.push(
        { name: 'global (mean of ranks)', metric: 'loss', split: 'validation', x, y: v.map((e) => e.loss) },
        { name: 'global (mean of ranks)', metric: 'accuracy', split: 'validation', x, y: v.map((e) => e.accuracy) },
        { name: 'global (mean of ranks)', metric: 'auc', split: 'validation', x, y: v.map((e) => e.auc) },
      );
    }
    return trainingCurvesFigure(series, { title: `${this.title}: ${this.progress.placement.length} ranks` });
  }

  /** Throughput per rank and summed, allreduce ms per step, and the share of a step it takes. */
  performanceFigure() {
    const series: CurveSeries[] = [];
    for (const [rank, steps] of this.progress.rankSteps) {
      series.push({ name: `rank ${rank}`, metric: 'images/s', x: steps.map((s) => s.step), y: steps.map((s) => s.imagesPerSec) });
      series.push({ name: `rank ${rank}`, metric: 'allreduce ms', x: steps.map((s) => s.step), y: steps.map((s) => s.commMs) });
    }
    const g = this.progress.globalSteps;
    series.push({ name: 'all ranks', metric: 'images/s', x: g.map((s) => s.step), y: g.map((s) => s.imagesPerSec) });
    series.push({ name: 'all ranks', metric: 'communication share', x: g.map((s) => s.step), y: g.map((s) => s.commFraction) });
    return trainingCurvesFigure(series, { title: 'throughput and communication' });
  }

  close(): void {
    this.curves.close();
    this.performance.close();
  }
}

export function displayTraining(progress: TrainingProgress, title?: string, options?: LiveOutputOptions): TrainingDisplay {
  return new TrainingDisplay(progress, title, options);
}
