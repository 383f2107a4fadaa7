import type { PlotlyFigure, PlotlyTrace } from './types';

/** One line of a training-curves plot: one metric of one rank / trial. */
export interface CurveSeries {
  /** whose curve: 'rank 0', 'trial 3', ... (one colour per name) */
  name: string;
  /** 'loss', 'accuracy', 'auc', ...: one subplot per metric */
  metric: string;
  /** validation curves are dashed (default 'train') */
  split?: 'train' | 'validation';
  /** global step or epoch */
  x: ArrayLike<number>;
  y: ArrayLike<number>;
}

export interface TrainingCurvesOptions {
  /** x-axis title (default 'step') */
  xAxis?: 'step' | 'epoch' | string;
  title?: string;
}

const COLORWAY = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

/**
 * Loss / accuracy (and any other metric) against step or epoch: one subplot
 * per metric stacked vertically, one colour per rank or trial, validation
 * dashed, one legend entry per (name, split).
 */
export function trainingCurvesFigure(series: CurveSeries[], opts: TrainingCurvesOptions = {}): PlotlyFigure {
  const metrics = unique(series.map((s) => s.metric));
  const names = unique(series.map((s) => s.name));
  const legendShown = new Set<string>();
  const data: PlotlyTrace[] = series.map((s) => {
    if (s.x.length !== s.y.length) {
      throw new RangeError(`trainingCurvesFigure: series "${s.name}" ${s.metric} has ${s.x.length} x values but ${s.y.length} y values`);
    }
    const split = s.split ?? 'train';
    const legendKey = `${s.name}\u0000${split}`;
    const showlegend = !legendShown.has(legendKey);
    legendShown.add(legendKey);
    const axis = metrics.indexOf(s.metric) + 1;
    return {
      type: 'scatter',
      mode: s.x.length === 1 ? 'markers' : 'lines',
      name: split === 'validation' ? `${s.name} (validation)` : s.name,
      legendgroup: legendKey,
      showlegend,
      x: Array.from(s.x),
      y: Array.from(s.y, (v) => (Number.isFinite(v) ? v : null)),
      xaxis: 'x',
      yaxis: axis === 1 ? 'y' : `y${axis}`,
      line: { color: COLORWAY[names.indexOf(s.name) % COLORWAY.length], dash: split === 'validation' ? 'dash' : 'solid', width: 2 },
    };
  });
  return { data, layout: stackedLayout(metrics, opts) };
}

function stackedLayout(metrics: string[], opts: TrainingCurvesOptions): Record<string, unknown> {
  const count = Math.max(1, metrics.length);
  const gap = 0.06;
  const height = (1 - gap * (count - 1)) / count;
  const layout: Record<string, unknown> = {
    title: { text: opts.title ?? 'training curves' },
    xaxis: { title: { text: opts.xAxis ?? 'step' }, anchor: count === 1 ? 'y' : `y${count}` },
    legend: { orientation: 'v' },
    height: 250 + 220 * count,
    margin: { t: 50, r: 20 },
  };
  metrics.forEach((metric, i) => {
    const top = 1 - i * (height + gap);
    layout[i === 0 ? 'yaxis' : `yaxis${i + 1}`] = { title: { text: metric }, domain: [Math.max(0, top - height), top], anchor: 'x' };
  });
  return layout;
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
