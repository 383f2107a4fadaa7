import { LabelsInput, WeightsInput, checkInputs, weightAt } from './inputs';
import type { RocCurve } from './roc';

/**
 * Signal efficiency (TPR) reachable at background efficiency (FPR) `fpr`,
 * linearly interpolated on the ROC. Where the curve is vertical at `fpr`, the
 * highest TPR there is returned.
 */
export function signalEfficiencyAt(roc: Pick<RocCurve, 'fpr' | 'tpr'>, backgroundEfficiency: number): number {
  const { fpr, tpr } = roc;
  if (!(backgroundEfficiency >= 0 && backgroundEfficiency <= 1)) {
    throw new RangeError(`signalEfficiencyAt: background efficiency must be in [0, 1], got ${backgroundEfficiency}`);
  }
  if (fpr.length === 0 || fpr.length !== tpr.length) throw new RangeError('signalEfficiencyAt: empty or malformed ROC curve');
  // last point with fpr ≤ x (fpr is non-decreasing)
  let lo = 0;
  let hi = fpr.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (fpr[mid] <= backgroundEfficiency) lo = mid + 1;
    else hi = mid;
  }
  const i = lo - 1;
  if (i < 0) return 0;
  if (fpr[i] === backgroundEfficiency || i === fpr.length - 1) return tpr[i];
  const t = (backgroundEfficiency - fpr[i]) / (fpr[i + 1] - fpr[i]);
  return tpr[i] + t * (tpr[i + 1] - tpr[i]);
}

/**
 * Efficiencies of a fixed selection (e.g. the seed's standard cuts, `psr`):
 * fpr = weighted fraction of background passing, tpr = of signal passing.
 */
export function selectionEfficiencies(
  labels: LabelsInput,
  passes: ArrayLike<number | boolean>,
  weights?: WeightsInput | null,
): { fpr: number; tpr: number } {
  const asScores = Float64Array.from({ length: passes.length }, (_, i) => (passes[i] ? 1 : 0));
  const input = checkInputs('selectionEfficiencies', labels, asScores, weights);
  let sigPass = 0;
  let sigAll = 0;
  let bkgPass = 0;
  let bkgAll = 0;
  for (let i = 0; i < input.length; i++) {
    const w = weightAt(input.weights, i);
    if (input.labels[i] === 1) {
      sigAll += w;
      sigPass += asScores[i] * w;
    } else {
      bkgAll += w;
      bkgPass += asScores[i] * w;
    }
  }
  if (sigAll <= 0 || bkgAll <= 0) throw new RangeError('selectionEfficiencies: need signal and background with weight > 0');
  return { fpr: bkgPass / bkgAll, tpr: sigPass / sigAll };
}
