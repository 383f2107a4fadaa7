import * as fs from 'node:fs';

export interface CpuPeak {
  model: string;
  ghz: number;
  /** fp32 FLOP per cycle per core the vector units can do */
  flopsPerCycle: number;
  gflops: (threads: number) => number;
  basis: string;
}

/**
 * The machine's fp32 peak from /proc/cpuinfo: clock × FLOP per cycle (AVX-512: two 512-bit FMA
 * units, 64 FLOP per cycle, as on Xeon Gold/Platinum; AVX2+FMA: 32; else 8) × threads. The
 * clock is the one cpuinfo reports (a VM's nominal clock; turbo is not counted).
 */
export function cpuPeak(): CpuPeak {
  const info = fs.readFileSync('/proc/cpuinfo', 'utf8');
  const field = (name: string) => info.match(new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm'))?.[1]?.trim() ?? '';
  const flags = new Set(field('flags').split(/\s+/));
  const ghz = Number(field('cpu MHz')) / 1000 || 0;
  const flopsPerCycle = flags.has('avx512f') ? 64 : flags.has('avx2') && flags.has('fma') ? 32 : 8;
  const unit = flopsPerCycle === 64 ? 'AVX-512, 2 FMA units' : flopsPerCycle === 32 ? 'AVX2 FMA' : 'SSE';
  return {
    model: field('model name'),
    ghz,
    flopsPerCycle,
    gflops: (threads) => threads * ghz * flopsPerCycle,
    basis: `${ghz.toFixed(2)} GHz × ${flopsPerCycle} FLOP/cycle (${unit}) per core`,
  };
}
