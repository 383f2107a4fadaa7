import type { RocCurve } from '../metrics/roc';
import type { PlotlyFigure, PlotlyTrace } from './types';

export interface RocFigureOptions {
  /** shown in the legend as `AUC = 0.xxx` */
  auc: number;
  /** the standard-cuts selection (e.g. from `selectionEfficiencies` on `psr`) */
  cutPoint?: { fpr: number; tpr: number };
  /** limit the FPR axis to [0, fprMax] (the seed's zoom plot uses 4e-4) */
  zoom?: { fprMax: number };
  title?: string;
  /** legend label of the curve (default 'ROC curve') */
  label?: string;
  /** upper bound on plotted points; the curve is thinned, never distorted by more than ~1/maxPoints (default 4000) */
  maxPoints?: number;
}

/**
 * The ROC plot of `hpcdl infer`, as the seed draws it: the curve with its AUC
 * in the legend, the standard-cuts point, the diagonal; optionally zoomed on
 * low background efficiency.
 */
export function rocFigure(roc: Pick<RocCurve, 'fpr' | 'tpr'>, opts: RocFigureOptions): PlotlyFigure {
  if (!Number.isFinite(opts.auc)) throw new RangeError(`rocFigure: auc must be a finite number, got ${opts.auc}`);
  if (opts.zoom && !(opts.zoom.fprMax > 0 && opts.zoom.fprMax <= 1)) {
    throw new RangeError(`rocFigure: zoom.fprMax must be in (0, 1], got ${opts.zoom.fprMax}`);
  }
  const fprMax = opts.zoom?.fprMax ?? 1;
  const points = thinCurve(roc.fpr, roc.tpr, fprMax, opts.maxPoints ?? 4000);
  const data: PlotlyTrace[] = [
    {
      type: 'scatter',
      mode: 'lines',
      name: `${opts.label ?? 'ROC curve'} (AUC = ${opts.auc.toFixed(3)})`,
      x: points.x,
      y: points.y,
      line: { width: 2 },
    },
  ];
  if (opts.cutPoint) {
    data.push({
      type: 'scatter',
      mode: 'markers',
      name: `standard cuts (bkg ${formatEfficiency(opts.cutPoint.fpr)}, sig ${formatEfficiency(opts.cutPoint.tpr)})`,
      x: [opts.cutPoint.fpr],
      y: [opts.cutPoint.tpr],
      marker: { size: 10, symbol: 'circle' },
    });
  }
  data.push({
    type: 'scatter',
    mode: 'lines',
    name: 'random',
    x: [0, fprMax],
    y: [0, fprMax],
    line: { color: 'navy', dash: 'dash', width: 1.5 },
  });
  return {
    data,
    layout: {
      title: { text: opts.title ?? (opts.zoom ? 'ROC (zoomed)' : 'ROC') },
      xaxis: { title: { text: 'false positive rate (background efficiency)' }, range: [0, fprMax], exponentformat: 'e' },
      yaxis: { title: { text: 'true positive rate (signal efficiency)' }, range: [0, 1.05] },
      legend: { x: 0.98, y: 0.02, xanchor: 'right', yanchor: 'bottom' },
      margin: { t: 50, r: 20 },
    },
  };
}

function formatEfficiency(e: number): string {
  return e !== 0 && e < 1e-2 ? e.toExponential(2) : e.toFixed(3);
}

/**
 * Keeps the first point, the last, and every point that moved at least
 * 1/maxPoints of the visible range since the last kept one; drops points
 * beyond the visible FPR range except the first one past it (so the line
 * reaches the edge).
 */
function thinCurve(fpr: ArrayLike<number>, tpr: ArrayLike<number>, fprMax: number, maxPoints: number): { x: number[]; y: number[] } {
  const x: number[] = [];
  const y: number[] = [];
  const stepX = fprMax / maxPoints;
  const stepY = 1 / maxPoints;
  let lastX = -Infinity;
  let lastY = -Infinity;
  for (let i = 0; i < fpr.length; i++) {
    const beyond = fpr[i] > fprMax;
    const isEnd = i === 0 || i === fpr.length - 1 || beyond;
    if (isEnd || fpr[i] - lastX >= stepX || tpr[i] - lastY >= stepY) {
      x.push(fpr[i]);
      y.push(tpr[i]);
      lastX = fpr[i];
      lastY = tpr[i];
    }
    if (beyond) break;
  }
  return { x, y };
}
