/**
 * Figures of a hyperparameter study, from its trials (the Study's plain
 * data): per-trial curves of the objective, best and worst curves, the score
 * histogram, and parallel coordinates of the parameters against the objective.
 */
import type { Direction, Trial, TrialState } from '../hpo/types';
import type { PlotlyFigure, PlotlyTrace } from './types';

const STATE_COLOURS: Record<TrialState, string> = {
  pending: '#bbbbbb',
  running: '#1f77b4',
  complete: '#2ca02c',
  pruned: '#ff7f0e',
  failed: '#d62728',
  failed_to_converge: '#9467bd',
};

export interface StudyFigureOptions {
  /** name of the objective on axes (default 'objective') */
  metric?: string;
  direction?: Direction;
  title?: string;
}

/** One line per trial (objective per epoch), coloured by state; running trials drawn thicker. */
export function trialCurvesFigure(trials: readonly Trial[], opts: StudyFigureOptions = {}): PlotlyFigure {
  const seen = new Set<TrialState>();
  const data: PlotlyTrace[] = trials
    .filter((t) => t.reports.length > 0)
    .map((t) => {
      const first = !seen.has(t.state);
      seen.add(t.state);
      return {
        type: 'scatter',
        mode: t.reports.length === 1 ? 'markers' : 'lines+markers',
        name: `trial ${t.id} (${t.state})`,
        legendgroup: t.state,
        showlegend: trials.length <= 12 || first,
        x: t.reports.map((r) => r.step),
        y: t.reports.map((r) => (Number.isFinite(r.value) ? r.value : null)),
        line: { color: STATE_COLOURS[t.state], width: t.state === 'running' ? 3 : 1.5, dash: t.state === 'pruned' ? 'dot' : 'solid' },
        marker: { size: 4 },
      };
    });
  return {
    data,
    layout: {
      title: { text: opts.title ?? `trials: ${opts.metric ?? 'objective'} per epoch` },
      xaxis: { title: { text: 'epoch' } },
      yaxis: { title: { text: opts.metric ?? 'objective' } },
      margin: { t: 50, r: 20 },
    },
  };
}

/** The finished trials ordered best first (complete, then pruned by their best-so-far value). */
export function rankTrials(trials: readonly Trial[], direction: Direction = 'max'): Trial[] {
  const scored = trials.filter((t) => (t.state === 'complete' || t.state === 'pruned') && Number.isFinite(t.value));
  const sign = direction === 'max' ? -1 : 1;
  return scored.sort((a, b) => (a.state === b.state ? 0 : a.state === 'complete' ? -1 : 1) || sign * (a.value! - b.value!));
}

/**
 * The best trial's curve and the worst one's: the worst is a trial that
 * failed to converge when there is one (as the seed's notebook shows), else
 * the lowest-ranked finished trial.
 */
export function bestWorstFigure(trials: readonly Trial[], opts: StudyFigureOptions = {}): PlotlyFigure {
  const ranked = rankTrials(trials.filter((t) => t.state === 'complete'), opts.direction);
  const best = ranked[0];
  const diverged = trials.filter((t) => t.state === 'failed_to_converge' && t.reports.length > 0);
  const worst = diverged[0] ?? (ranked.length > 1 ? ranked[ranked.length - 1] : undefined);
  const data: PlotlyTrace[] = [];
  const line = (t: Trial, label: string, color: string): PlotlyTrace => ({
    type: 'scatter',
    mode: 'lines+markers',
    name: `${label}: trial ${t.id} ${paramsText(t)}`,
    x: t.reports.map((r) => r.step),
    y: t.reports.map((r) => (Number.isFinite(r.value) ? r.value : null)),
    line: { color, width: 2.5 },
  });
  if (best) data.push(line(best, `best (${formatValue(best.value)})`, '#2ca02c'));
  if (worst && worst !== best) data.push(line(worst, worst.state === 'failed_to_converge' ? 'worst (failed to converge)' : `worst (${formatValue(worst.value)})`, '#d62728'));
  return {
    data,
    layout: {
      title: { text: opts.title ?? `best and worst trials: ${opts.metric ?? 'objective'}` },
      xaxis: { title: { text: 'epoch' } },
      yaxis: { title: { text: opts.metric ?? 'objective' } },
      legend: { orientation: 'h', y: -0.2 },
      margin: { t: 50, r: 20 },
    },
  };
}

/** Histogram of the final scores of the complete trials (the seed: 20 bins). */
export function scoreHistogramFigure(trials: readonly Trial[], opts: StudyFigureOptions & { bins?: number } = {}): PlotlyFigure {
  const values = trials.filter((t) => t.state === 'complete' && Number.isFinite(t.value)).map((t) => t.value!);
  return {
    data: [{ type: 'histogram', x: values, nbinsx: opts.bins ?? 20, name: 'complete trials', marker: { color: '#1f77b4' } }],
    layout: {
      title: { text: opts.title ?? `score histogram (${values.length} complete trials)` },
      xaxis: { title: { text: opts.metric ?? 'objective' } },
      yaxis: { title: { text: 'trials' } },
      bargap: 0.05,
      margin: { t: 50, r: 20 },
    },
  };
}

/**
 * Parallel coordinates: one axis per parameter (log-scaled numbers shown as
 * log10, categories as indices with their labels) and the objective last,
 * lines coloured by the objective. Complete trials only.
 */
export function parallelCoordinatesFigure(trials: readonly Trial[], opts: StudyFigureOptions & { logParams?: string[] } = {}): PlotlyFigure {
  const done = trials.filter((t) => t.state === 'complete' && Number.isFinite(t.value));
  const names = [...new Set(done.flatMap((t) => Object.keys(t.params)))];
  const log = new Set(opts.logParams ?? []);
  const dimensions: Record<string, unknown>[] = names.map((name) => {
    const raw = done.map((t) => t.params[name]);
    if (raw.every((v) => typeof v === 'number' || v === undefined)) {
      const useLog = log.has(name) && raw.every((v) => v === undefined || (v as number) > 0);
      return {
        label: useLog ? `log10 ${name}` : name,
        values: raw.map((v) => (v === undefined ? null : useLog ? Math.log10(v as number) : v)),
      };
    }
    const labels = [...new Set(raw.map((v) => String(v)))];
    return { label: name, values: raw.map((v) => labels.indexOf(String(v))), tickvals: labels.map((_, i) => i), ticktext: labels };
  });
  const values = done.map((t) => t.value!);
  dimensions.push({ label: opts.metric ?? 'objective', values });
  return {
    data: [
      {
        type: 'parcoords',
        line: { color: values, colorscale: 'Viridis', showscale: true, reversescale: opts.direction === 'min', colorbar: { title: { text: opts.metric ?? 'objective' } } },
        dimensions,
      },
    ],
    layout: { title: { text: opts.title ?? 'parameters against the objective' }, margin: { t: 80, r: 60, l: 60 } },
  };
}

function paramsText(t: Trial): string {
  return Object.entries(t.params)
    .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(3) : v}`)
    .join(', ');
}

function formatValue(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '—' : v.toPrecision(4);
}

export interface RocComparisonCurve {
  label: string;
  fpr: ArrayLike<number>;
  tpr: ArrayLike<number>;
  auc: number;
}

/** Several ROC curves on one plot (e.g. the best trial against the default config), with the standard-cuts point. */
export function rocComparisonFigure(curves: RocComparisonCurve[], opts: { cutPoint?: { fpr: number; tpr: number }; title?: string } = {}): PlotlyFigure {
  const data: PlotlyTrace[] = curves.map((c) => ({
    type: 'scatter',
    mode: 'lines',
    name: `${c.label} (AUC = ${c.auc.toFixed(3)})`,
    x: Array.from(c.fpr),
    y: Array.from(c.tpr),
    line: { width: 2 },
  }));
  if (opts.cutPoint) {
    data.push({ type: 'scatter', mode: 'markers', name: `standard cuts (bkg ${opts.cutPoint.fpr.toPrecision(3)}, sig ${opts.cutPoint.tpr.toPrecision(3)})`, x: [opts.cutPoint.fpr], y: [opts.cutPoint.tpr], marker: { size: 10 } });
  }
  data.push({ type: 'scatter', mode: 'lines', name: 'random', x: [0, 1], y: [0, 1], line: { color: 'navy', dash: 'dash', width: 1.5 } });
  return {
    data,
    layout: {
      title: { text: opts.title ?? 'ROC, test split' },
      xaxis: { title: { text: 'false positive rate (background efficiency)' }, range: [0, 1] },
      yaxis: { title: { text: 'true positive rate (signal efficiency)' }, range: [0, 1.05] },
      legend: { x: 0.98, y: 0.02, xanchor: 'right', yanchor: 'bottom' },
      margin: { t: 50, r: 20 },
    },
  };
}
