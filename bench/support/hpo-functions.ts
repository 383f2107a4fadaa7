/**
 * Standard HPO test functions (minimisation) with their known minima, as
 * search spaces for the Study: Branin (2-d), Hartmann-6, and Hartmann-3 with
 * additive Gaussian noise. bench/peers/optuna_hpo.py defines the same ones.
 */
import { Rng } from '../../src/data/rng';
import type { Params, SearchSpace } from '../../src/hpo/types';

export interface TestFunction {
  name: string;
  space: SearchSpace;
  /** the noise-free value (regret is measured on it) */
  f(p: Params): number;
  /** what the optimiser sees; equals f unless noisy */
  observe(p: Params, rng: Rng): number;
  minimum: number;
}

export function branin(x: number, y: number): number {
  const b = 5.1 / (4 * Math.PI ** 2);
  const c = 5 / Math.PI;
  const t = 1 / (8 * Math.PI);
  return (y - b * x * x + c * x - 6) ** 2 + 10 * (1 - t) * Math.cos(x) + 10;
}
export const BRANIN_MIN = 0.397887;

const H6_A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]];
const H6_P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991], [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]].map((r) => r.map((v) => v * 1e-4));
const H3_A = [[3, 10, 30], [0.1, 10, 35], [3, 10, 30], [0.1, 10, 35]];
const H3_P = [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]].map((r) => r.map((v) => v * 1e-4));
const ALPHA = [1.0, 1.2, 3.0, 3.2];

function hartmann(x: number[], A: number[][], P: number[][]): number {
  let s = 0;
  for (let i = 0; i < 4; i++) {
    let e = 0;
    for (let j = 0; j < x.length; j++) e += A[i][j] * (x[j] - P[i][j]) ** 2;
    s += ALPHA[i] * Math.exp(-e);
  }
  return -s;
}
export const hartmann6 = (x: number[]): number => hartmann(x, H6_A, H6_P);
export const hartmann3 = (x: number[]): number => hartmann(x, H3_A, H3_P);
export const H6_MIN = -3.32237;
export const H3_MIN = -3.86278;
/** noise sd of the noisy Hartmann-3 (about 3% of its range) */
export const NOISE_SD = 0.1;

const unitSpace = (d: number): SearchSpace => Object.fromEntries(Array.from({ length: d }, (_, i) => [`x${i}`, { type: 'float', low: 0, high: 1 }]));
const vec = (p: Params, d: number): number[] => Array.from({ length: d }, (_, i) => p[`x${i}`] as number);

export const FUNCTIONS: TestFunction[] = [
  {
    name: 'branin',
    space: { x: { type: 'float', low: -5, high: 10 }, y: { type: 'float', low: 0, high: 15 } },
    f: (p) => branin(p.x as number, p.y as number),
    observe: (p) => branin(p.x as number, p.y as number),
    minimum: BRANIN_MIN,
  },
  { name: 'hartmann6', space: unitSpace(6), f: (p) => hartmann6(vec(p, 6)), observe: (p) => hartmann6(vec(p, 6)), minimum: H6_MIN },
  {
    name: 'noisy-hartmann3',
    space: unitSpace(3),
    f: (p) => hartmann3(vec(p, 3)),
    observe: (p, rng) => hartmann3(vec(p, 3)) + rng.normal(0, NOISE_SD),
    minimum: H3_MIN,
  },
];
