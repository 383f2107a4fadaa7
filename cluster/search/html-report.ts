/**
 * The study's final HTML report (self-contained: plotly.js inlined from the
 * package, no network): summary, trial table, best and worst curves, all
 * curves, the score histogram, parallel coordinates of the parameters against
 * the objective, and the best trial's test-split ROC when it was evaluated.
 */
import type { Direction, SearchSpace, Trial } from '../../src/hpo/types';
import { rocFigure, writeFiguresHtml, type PlotlyFigure } from '../../src/plots';
import { bestWorstFigure, parallelCoordinatesFigure, rankTrials, scoreHistogramFigure, trialCurvesFigure } from '../../src/plots/study-figures';
import { escapeHtml } from '../../src/plots/live-output';
import type { Evaluation } from './evaluate-task';

export interface StudyReport {
  title: string;
  trials: readonly Trial[];
  space: SearchSpace;
  metric: string;
  direction: Direction;
  /** lines shown under the title (algorithm, pruner, engines, duration, ...) */
  summary: string[];
  /** the best trial's test-split evaluation */
  evaluation?: { trial: number; result: Evaluation };
}

export function studyFigures(r: Pick<StudyReport, 'trials' | 'space' | 'metric' | 'direction'>): PlotlyFigure[] {
  const opts = { metric: r.metric, direction: r.direction };
  const logParams = Object.entries(r.space).filter(([, d]) => d.type !== 'categorical' && d.log).map(([k]) => k);
  return [bestWorstFigure(r.trials, opts), trialCurvesFigure(r.trials, opts), scoreHistogramFigure(r.trials, opts), parallelCoordinatesFigure(r.trials, { ...opts, logParams })];
}

export function writeStudyReport(file: string, r: StudyReport): void {
  const figures = studyFigures(r);
  if (r.evaluation) {
    const e = r.evaluation.result;
    figures.push(rocFigure({ fpr: Float64Array.from(e.roc.fpr), tpr: Float64Array.from(e.roc.tpr) }, { auc: e.weighted.auc, cutPoint: e.cutComparison?.cut, title: `best trial ${r.evaluation.trial}: ROC on the test split (${e.events} events)`, label: `trial ${r.evaluation.trial}` }));
  }
  writeFiguresHtml(file, figures, r.title, { intro: introHtml(r) });
}

function introHtml(r: StudyReport): string {
  const counts = new Map<string, number>();
  for (const t of r.trials) counts.set(t.state, (counts.get(t.state) ?? 0) + 1);
  const states = [...counts].map(([s, n]) => `${n} ${s}`).join(', ');
  const lines = [...r.summary, `trials: ${r.trials.length} (${states})`];
  const best = rankTrials(r.trials.filter((t) => t.state === 'complete'), r.direction)[0];
  if (best) lines.push(`best: trial ${best.id}, ${r.metric} ${best.value!.toPrecision(5)}, ${JSON.stringify(best.params)}`);
  if (r.evaluation) {
    const e = r.evaluation.result;
    const cut = e.cutComparison ? `; at the standard cuts' background efficiency ${e.cutComparison.cut.fpr.toPrecision(3)}: signal efficiency ${e.cutComparison.classifierTpr.toPrecision(3)} (cuts: ${e.cutComparison.cut.tpr.toPrecision(3)})` : '';
    lines.push(`best trial on the test split: AUC ${e.weighted.auc.toPrecision(4)}, accuracy ${e.weighted.accuracy.toPrecision(4)}, loss ${e.weighted.loss.toPrecision(4)} (${e.events} events)${cut}`);
  }
  return `<ul>${lines.map((l) => `<li>${escapeHtml(l)}</li>`).join('')}</ul>\n${trialTableHtml(r)}`;
}

function trialTableHtml(r: StudyReport): string {
  const params = Object.keys(r.space);
  const head = ['trial', 'state', ...params, r.metric, 'epochs', 'folds', 'attempts', 'engine', 'seconds', 'error'];
  const rows = r.trials.map((t) => [
    String(t.id),
    t.state,
    ...params.map((p) => formatCell(t.params[p])),
    formatCell(t.value),
    String(t.reports.length),
    t.folds ? t.folds.map((f) => f.toPrecision(4)).join(' ') : '',
    String(t.attempts),
    t.engine === undefined ? '' : String(t.engine),
    t.startedAt && t.endedAt ? ((t.endedAt - t.startedAt) / 1000).toFixed(1) : '',
    (t.error ?? '').slice(0, 120),
  ]);
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>
${rows.map((row) => `<tr>${row.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n')}
</tbody></table>`;
}

function formatCell(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  return String(v);
}
