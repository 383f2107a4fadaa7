import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../package-info';

/** The functions of native/ (hpcdl_onednn.node); every array is used in place, no copy. */
export interface OnednnAddon {
  info(): { version: string; isa: string; bf16: boolean; threads: number };
  /** oneDNN's OpenMP threads for the calls that follow; returns the count now in force */
  setThreads(threads: number): number;
  conv2dForward(x: Float32Array, filter: Float32Array, bias: Float32Array | null, out: Float32Array, geometry: number[], relu: boolean): void;
  conv2dBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: number[]): void;
  conv2dBackwardWeights(x: Float32Array, dy: Float32Array, dFilter: Float32Array, dBias: Float32Array | null, geometry: number[]): void;
  matMul(a: Float32Array, b: Float32Array, out: Float32Array, geometry: number[], bias: Float32Array | null, relu: boolean): void;
  maxPool(x: Float32Array, out: Float32Array, window: number[]): void;
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, window: number[]): void;
  relu(x: Float32Array, out: Float32Array, n: number): void;
  /** op 0 add, 1 sub, 2 mul, 3 div; mode 0 same shape, 1 a is a scalar, 2 b is a scalar */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, n: number, mode: number): void;
  /** op 0 step(alpha), 1 sqrt, 2 square */
  unary(op: number, x: Float32Array, out: Float32Array, n: number, alpha: number): void;
  reluGradMul(dy: Float32Array, y: Float32Array, out: Float32Array, n: number): void;
  sumChannels(x: Float32Array, out: Float32Array, rows: number, channels: number): void;
  adamUpdate(weights: Float32Array, m: Float32Array, v: Float32Array, grad: Float32Array,
    weightsOut: Float32Array, mOut: Float32Array, vOut: Float32Array, n: number,
    lrT: number, beta1: number, beta2: number, epsilon: number): void;
}

export type AddonLoad = { addon: OnednnAddon; file: string } | { addon?: undefined; reason: string };

/**
 * Where the addon is: `HPCDL_NATIVE_ADDON` (a .node file), else native/build/Release in the
 * package. `HPCDL_NATIVE=0` turns the native backend off.
 */
export function addonFile(): string {
  return process.env.HPCDL_NATIVE_ADDON || path.join(packageRoot(), 'native', 'build', 'Release', 'hpcdl_onednn.node');
}

let loaded: AddonLoad | undefined;

/** Loads the addon once; on failure says why (never throws). */
export function loadAddon(): AddonLoad {
  if (loaded) return loaded;
  loaded = tryLoad();
  return loaded;
}

function tryLoad(): AddonLoad {
  if (process.env.HPCDL_NATIVE === '0') return { reason: 'HPCDL_NATIVE=0' };
  let file: string;
  try {
    file = addonFile();
  } catch (err) {
    return { reason: (err as Error).message };
  }
  if (!fs.existsSync(file)) {
    return { reason: `native addon not built (${file} missing; it needs g++ and libdnnl-dev at npm install, then 'npm run build:native')` };
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const addon = require(file) as OnednnAddon;
    addon.info();
    return { addon, file };
  } catch (err) {
    return { reason: `native addon ${file} failed to load: ${(err as Error).message.split('\n')[0]}` };
  }
}
