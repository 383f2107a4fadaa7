/**
 * TPE's univariate Parzen estimators, after Optuna 3.1's `_ParzenEstimator`
 * (prior component at the centre with the full range as sigma, neighbour-
 * distance bandwidths, "magic clip", no endpoints). Numeric dimensions live in
 * the unit interval of toUnit (an affine map of Optuna's internal, possibly
 * log, scale); an integer dimension's mass is the probability of its cell.
 */
import { normalCdf } from './gaussian-process';

/** anything with uniform and normal draws (the data Rng fits) */
export interface RandomSource {
  uniform(): number;
  normal(mean?: number, sd?: number): number;
}

const PRIOR_WEIGHT = 1;
const EPS = 1e-12;

/** Optuna's default_weights: flat for the 25 newest observations, a ramp for older ones */
export function defaultWeights(n: number): number[] {
  if (n < 25) return new Array<number>(n).fill(1);
  const ramp = Array.from({ length: n - 25 }, (_, i) => (n - 25 === 1 ? 1 / n : 1 / n + (i * (1 - 1 / n)) / (n - 26)));
  return [...ramp, ...new Array<number>(25).fill(1)];
}

/** Optuna's default_gamma: the better 10%, at most 25 */
export function defaultGamma(n: number): number {
  return Math.min(Math.ceil(0.1 * n), 25);
}

export class NumericParzen {
  private readonly mus: number[];
  private readonly sigmas: number[];
  private readonly weights: number[];
  private readonly norms: number[];

  /** `obs` unit values in trial order; `cell` gives an integer's cell [lo, hi] in unit space (null for floats) */
  constructor(obs: number[], private readonly cell: ((u: number) => [number, number]) | null) {
    const mus = [...obs, 0.5];
    const w = [...defaultWeights(obs.length), PRIOR_WEIGHT];
    const order = mus.map((_, i) => i).sort((a, b) => mus[a] - mus[b]);
    const sorted = order.map((i) => mus[i]);
    const withEnds = [0, ...sorted, 1];
    const sortedSigmas = sorted.map((_, k) => Math.max(withEnds[k + 1] - withEnds[k], withEnds[k + 2] - withEnds[k + 1]));
    if (withEnds.length >= 4) {
      sortedSigmas[0] = withEnds[2] - withEnds[1];
      sortedSigmas[sortedSigmas.length - 1] = withEnds[withEnds.length - 2] - withEnds[withEnds.length - 3];
    }
    const minSigma = 1 / Math.min(100, 1 + mus.length);
    const sigmas = new Array<number>(mus.length);
    order.forEach((i, k) => (sigmas[i] = Math.min(1, Math.max(minSigma, sortedSigmas[k]))));
    sigmas[mus.length - 1] = 1;
    const total = w.reduce((a, b) => a + b, 0);
    this.mus = mus;
    this.sigmas = sigmas;
    this.weights = w.map((v) => v / total);
    this.norms = mus.map((m, i) => Math.max(EPS, normalCdf((1 - m) / sigmas[i]) - normalCdf((0 - m) / sigmas[i])));
  }

  sample(rng: RandomSource): number {
    let r = rng.uniform();
    let i = 0;
    while (i < this.weights.length - 1 && r >= this.weights[i]) r -= this.weights[i++];
    for (let tries = 0; tries < 100; tries++) {
      const x = rng.normal(this.mus[i], this.sigmas[i]);
      if (x >= 0 && x <= 1) return x;
    }
    return Math.min(1, Math.max(0, this.mus[i]));
  }

  logPdf(u: number): number {
    let p = 0;
    for (let i = 0; i < this.mus.length; i++) {
      const m = this.mus[i];
      const s = this.sigmas[i];
      if (this.cell === null) {
        const z = (u - m) / s;
        p += (this.weights[i] * Math.exp(-0.5 * z * z)) / (s * Math.sqrt(2 * Math.PI) * this.norms[i]);
      } else {
        const [lo, hi] = this.cell(u);
        p += (this.weights[i] * (normalCdf((hi - m) / s) - normalCdf((lo - m) / s))) / this.norms[i];
      }
    }
    return Math.log(Math.max(p, EPS));
  }
}

export class CategoricalParzen {
  private readonly probs: number[];

  /** Optuna 3.1's rule: each observation is a row with prior_weight/(n+1) on every choice plus 1 on its own, normalised; the prior row is uniform */
  constructor(obsIndices: number[], k: number) {
    const n = obsIndices.length;
    const w = [...defaultWeights(n), PRIOR_WEIGHT];
    const total = w.reduce((a, b) => a + b, 0);
    const floor = PRIOR_WEIGHT / (n + 1);
    const probs = new Array<number>(k).fill((w[n] / total) * (1 / k));
    obsIndices.forEach((c, i) => {
      const wi = w[i] / total / (k * floor + 1);
      for (let j = 0; j < k; j++) probs[j] += wi * (floor + (j === c ? 1 : 0));
    });
    this.probs = probs;
  }

  sample(rng: RandomSource): number {
    let r = rng.uniform();
    for (let c = 0; c < this.probs.length - 1; c++) {
      if (r < this.probs[c]) return c;
      r -= this.probs[c];
    }
    return this.probs.length - 1;
  }

  logPmf(c: number): number {
    return Math.log(Math.max(this.probs[c], EPS));
  }
}
