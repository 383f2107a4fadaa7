/**
 * Mann-Whitney U test, two-sided, normal approximation with tie and
 * continuity corrections (what scipy.stats.mannwhitneyu(method='asymptotic')
 * computes). Fine for samples of 20 or more.
 */
import { normalCdf } from '../../src/hpo/samplers/gaussian-process';

export interface MannWhitney {
  /** U of the first sample: how often one of its values beats (is larger than) one of the second's, ties half */
  u: number;
  z: number;
  /** two-sided p-value */
  p: number;
}

export function mannWhitneyU(a: number[], b: number[]): MannWhitney {
  const n1 = a.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new Error('mannWhitneyU: both samples need values');
  const all = [...a.map((v) => ({ v, first: true })), ...b.map((v) => ({ v, first: false }))].sort((x, y) => x.v - y.v);
  const n = all.length;
  let rankSumA = 0;
  let tieTerm = 0;
  for (let i = 0; i < n; ) {
    let j = i;
    while (j + 1 < n && all[j + 1].v === all[i].v) j++;
    const rank = (i + j) / 2 + 1;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    for (let k = i; k <= j; k++) if (all[k].first) rankSumA += rank;
    i = j + 1;
  }
  const u = rankSumA - (n1 * (n1 + 1)) / 2;
  const mean = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  if (variance <= 0) return { u, z: 0, p: 1 };
  const diff = Math.abs(u - mean);
  const z = Math.max(0, diff - 0.5) / Math.sqrt(variance);
  return { u, z: Math.sign(u - mean) * z, p: Math.min(1, 2 * (1 - normalCdf(z))) };
}
