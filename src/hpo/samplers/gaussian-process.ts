/**
 * Gaussian-process regression for the GP sampler: Matérn 5/2 kernel with one
 * length scale per search dimension (a categorical's one-hot block shares
 * one), a noise ratio, and the signal variance profiled out of the marginal
 * likelihood. Hyperparameters maximise that likelihood (plus a weak log-normal
 * prior on the length scales) by a small grid and a coordinate search in log
 * space; the Cholesky factorisation is ml-matrix's.
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';

export interface GpHyper {
  /** per search dimension, in unit-cube units */
  lengthscales: Float64Array;
  /** noise variance / signal variance */
  noise: number;
}

const SQRT5 = Math.sqrt(5);
const LOG_2PI = Math.log(2 * Math.PI);
/** bounds of the hyperparameter search (unit-cube inputs, standardised outputs) */
const LENGTHSCALE_MIN = 0.01;
const LENGTHSCALE_MAX = 20;
const NOISE_MIN = 1e-6;
const NOISE_MAX = 1;
/** weak prior on log length scales: centred on 0.5 of the cube, sd 1.5 in log units */
const PRIOR_LOG_LS = Math.log(0.5);
const PRIOR_LOG_LS_SD = 1.5;
/** added to the diagonal so that duplicated inputs stay factorisable */
const JITTER = 1e-8;

export function matern52(r: number): number {
  const s = SQRT5 * r;
  return (1 + s + (s * s) / 3) * Math.exp(-s);
}

/** pairwise squared coordinate differences summed per search dimension (the part of r² that hyperparameters scale) */
function pairwiseGroupDistances(X: Float64Array[], groups: Int32Array, nGroups: number): Float64Array[] {
  const n = X.length;
  const out = Array.from({ length: nGroups }, () => new Float64Array(n * n));
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const a = X[i];
      const b = X[j];
      for (let c = 0; c < a.length; c++) {
        const d = a[c] - b[c];
        if (d !== 0) out[groups[c]][i * n + j] += d * d;
      }
      for (let g = 0; g < nGroups; g++) out[g][j * n + i] = out[g][i * n + j];
    }
  }
  return out;
}

function correlationMatrix(dist: Float64Array[], n: number, h: GpHyper): number[][] {
  const inv = Array.from(h.lengthscales, (l) => 1 / (l * l));
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(new Array<number>(n));
  for (let i = 0; i < n; i++) {
    rows[i][i] = 1 + h.noise + JITTER;
    for (let j = i + 1; j < n; j++) {
      let r2 = 0;
      for (let g = 0; g < inv.length; g++) r2 += dist[g][i * n + j] * inv[g];
      const k = matern52(Math.sqrt(r2));
      rows[i][j] = k;
      rows[j][i] = k;
    }
  }
  return rows;
}

interface Factor {
  chol: CholeskyDecomposition;
  /** L row-major, for the forward substitutions of predictions */
  lower: Float64Array;
  alpha: Float64Array;
  /** yᵀ R⁻¹ y / n: the profiled signal variance */
  signal: number;
  logDet: number;
}

function factor(rows: number[][], y: Float64Array): Factor | null {
  const n = y.length;
  const chol = new CholeskyDecomposition(new Matrix(rows));
  if (!chol.isPositiveDefinite()) return null;
  const L = chol.lowerTriangularMatrix;
  const lower = new Float64Array(n * n);
  let logDet = 0;
  for (let i = 0; i < n; i++) {
    const row = L.getRow(i);
    for (let j = 0; j <= i; j++) lower[i * n + j] = row[j];
    logDet += 2 * Math.log(row[i]);
  }
  const a = chol.solve(Matrix.columnVector(Array.from(y))).getColumn(0);
  const alpha = Float64Array.from(a);
  let q = 0;
  for (let i = 0; i < n; i++) q += y[i] * alpha[i];
  return { chol, lower, alpha, signal: Math.max(q / n, 1e-12), logDet };
}

function logPrior(h: GpHyper): number {
  let p = 0;
  for (const l of h.lengthscales) {
    const z = (Math.log(l) - PRIOR_LOG_LS) / PRIOR_LOG_LS_SD;
    p -= 0.5 * z * z;
  }
  return p;
}

function profiledLogLikelihood(dist: Float64Array[], y: Float64Array, h: GpHyper): number {
  const n = y.length;
  const f = factor(correlationMatrix(dist, n, h), y);
  if (!f) return -Infinity;
  return -0.5 * n * Math.log(f.signal) - 0.5 * f.logDet - 0.5 * n * (1 + LOG_2PI) + logPrior(h);
}

export interface FitOptions {
  /** grid values of the shared starting length scale */
  lengthscaleGrid?: number[];
  noiseGrid?: number[];
  /** coordinate-search sweeps after the grid (each tries ×/÷ step on every hyperparameter) */
  sweeps?: number;
}

/** the number of likelihood evaluations is grid size + sweeps × 2 × (dimensions + 1) */
const DEFAULT_FIT: Required<FitOptions> = {
  lengthscaleGrid: [0.1, 0.25, 0.6, 1.5],
  noiseGrid: [1e-6, 1e-3, 3e-2],
  sweeps: 3,
};

/** Maximises the profiled marginal likelihood (with the length-scale prior) over hyperparameters. */
export function fitHyperparameters(X: Float64Array[], y: Float64Array, groups: Int32Array, nGroups: number, opts: FitOptions = {}): GpHyper {
  const o = { ...DEFAULT_FIT, ...opts };
  const dist = pairwiseGroupDistances(X, groups, nGroups);
  let best: GpHyper = { lengthscales: new Float64Array(nGroups).fill(0.5), noise: 1e-3 };
  let bestLl = -Infinity;
  for (const l of o.lengthscaleGrid) {
    for (const noise of o.noiseGrid) {
      const h = { lengthscales: new Float64Array(nGroups).fill(l), noise };
      const ll = profiledLogLikelihood(dist, y, h);
      if (ll > bestLl) {
        bestLl = ll;
        best = h;
      }
    }
  }
  let step = Math.log(3);
  for (let sweep = 0; sweep < o.sweeps; sweep++, step /= 2) {
    for (let k = 0; k <= nGroups; k++) {
      for (const dir of [1, -1]) {
        const h = { lengthscales: Float64Array.from(best.lengthscales), noise: best.noise };
        if (k < nGroups) h.lengthscales[k] = clampLog(h.lengthscales[k] * Math.exp(dir * step), LENGTHSCALE_MIN, LENGTHSCALE_MAX);
        else h.noise = clampLog(h.noise * Math.exp(dir * step * 2), NOISE_MIN, NOISE_MAX);
        const ll = profiledLogLikelihood(dist, y, h);
        if (ll > bestLl) {
          bestLl = ll;
          best = h;
          break;
        }
      }
    }
  }
  return best;
}

function clampLog(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

/** A GP conditioned on (X, y) with fixed hyperparameters; y is expected standardised. */
export class GaussianProcess {
  private readonly f: Factor;
  private readonly invL2: Float64Array;
  private readonly kbuf: Float64Array;

  constructor(
    readonly X: Float64Array[],
    readonly y: Float64Array,
    readonly hyper: GpHyper,
    private readonly groups: Int32Array,
  ) {
    const dist = pairwiseGroupDistances(X, groups, hyper.lengthscales.length);
    let h = hyper;
    let f = factor(correlationMatrix(dist, X.length, h), y);
    // near-duplicate inputs with tiny noise: raise the noise until it factorises
    while (!f && h.noise < NOISE_MAX) {
      h = { ...h, noise: Math.max(h.noise * 10, 1e-6) };
      f = factor(correlationMatrix(dist, X.length, h), y);
    }
    if (!f) throw new Error('gp: the kernel matrix is not positive definite');
    this.f = f;
    this.hyper = h;
    this.invL2 = Float64Array.from(hyper.lengthscales, (l) => 1 / (l * l));
    this.kbuf = new Float64Array(X.length);
  }

  get size(): number {
    return this.X.length;
  }

  /** the same hyperparameters conditioned on one more point */
  withPoint(x: Float64Array, y: number): GaussianProcess {
    const Y = new Float64Array(this.y.length + 1);
    Y.set(this.y);
    Y[this.y.length] = y;
    return new GaussianProcess([...this.X, x], Y, this.hyper, this.groups);
  }

  /** posterior mean and standard deviation of the latent function at x (standardised units) */
  predict(x: Float64Array): { mean: number; sd: number } {
    const n = this.X.length;
    const k = this.kbuf;
    const { groups, invL2 } = this;
    let mean = 0;
    for (let i = 0; i < n; i++) {
      const xi = this.X[i];
      let r2 = 0;
      for (let c = 0; c < x.length; c++) {
        const d = x[c] - xi[c];
        r2 += d * d * invL2[groups[c]];
      }
      k[i] = matern52(Math.sqrt(r2));
      mean += k[i] * this.f.alpha[i];
    }
    // v = L⁻¹k by forward substitution (in place); var = 1 - vᵀv
    const L = this.f.lower;
    let vv = 0;
    for (let i = 0; i < n; i++) {
      let s = k[i];
      const row = i * n;
      for (let j = 0; j < i; j++) s -= L[row + j] * k[j];
      s /= L[row + i];
      k[i] = s;
      vv += s * s;
    }
    const variance = Math.max(1 - vv, 1e-12) * this.f.signal;
    return { mean, sd: Math.sqrt(variance) };
  }

  /** smoothed values at the training inputs (the noise-free part of y): y - λα */
  fittedMeans(): Float64Array {
    return Float64Array.from(this.y, (v, i) => v - (this.hyper.noise + JITTER) * this.f.alpha[i]);
  }
}

const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export function normalPdf(z: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * z * z);
}

/** standard normal CDF */
export function normalCdf(z: number): number {
  return 0.5 * erfc(-z / Math.SQRT2);
}

/** complementary error function, Numerical Recipes' erfcc (fractional error < 1.2e-7 everywhere) */
export function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** log of expected improvement below `best` (minimisation), stable far in the tail */
export function logExpectedImprovement(mean: number, sd: number, best: number): number {
  if (sd <= 0) return mean < best ? Math.log(best - mean) : -Infinity;
  const z = (best - mean) / sd;
  if (z > -6) {
    const ei = sd * (z * normalCdf(z) + normalPdf(z));
    if (ei > 0) return Math.log(ei);
  }
  // EI ≈ sd·φ(z)/z² for z → -∞
  return Math.log(sd) - 0.5 * z * z - Math.log(Math.sqrt(2 * Math.PI)) - 2 * Math.log(Math.abs(z));
}
