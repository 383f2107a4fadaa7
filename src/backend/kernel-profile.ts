import * as tf from '@tensorflow/tfjs-core';

export interface KernelTime {
  kernel: string;
  calls: number;
  ms: number;
}

/**
 * Time per kernel name of what `body` runs (tf.profile: each kernel timed by its backend),
 * slowest first, and the total wall time of `body`.
 */
export async function profileKernels(body: () => void | Promise<void>): Promise<{ rows: KernelTime[]; wallMs: number }> {
  const start = performance.now();
  const info = await tf.profile(async () => {
    await body();
  });
  const wallMs = performance.now() - start;
  const byName = new Map<string, KernelTime>();
  const backend = tf.getBackend();
  for (const kernel of info.kernels) {
    // op scopes (customGrad's 'unnamed scope', fused ops' '__op') are listed too; count kernels only
    if (!tf.getKernel(kernel.name, backend)) continue;
    const row = byName.get(kernel.name) ?? { kernel: kernel.name, calls: 0, ms: 0 };
    row.calls += 1;
    row.ms += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    byName.set(kernel.name, row);
  }
  return { rows: [...byName.values()].sort((a, b) => b.ms - a.ms), wallMs };
}

/** The rows as an aligned table: kernel, calls, ms, share of the kernels' total. */
export function formatKernelTimes(rows: KernelTime[], limit = 12): string[] {
  const total = rows.reduce((sum, r) => sum + r.ms, 0);
  const shown = rows.slice(0, limit).map((r) =>
    `  ${r.kernel.padEnd(22)} ${String(r.calls).padStart(4)} calls ${r.ms.toFixed(1).padStart(9)} ms ${((100 * r.ms) / Math.max(total, 1e-9)).toFixed(1).padStart(5)}%`);
  const rest = rows.slice(limit);
  if (rest.length) shown.push(`  (${rest.length} more kernels: ${rest.reduce((s, r) => s + r.ms, 0).toFixed(1)} ms)`);
  shown.push(`  kernels total ${total.toFixed(1)} ms`);
  return shown;
}
