import * as os from 'node:os';

/** More gradient threads than this rarely pay: each holds a model replica and its own wasm heap. */
export const MAX_DEFAULT_THREADS = 8;

/**
 * Threads computing the HEP CNN's gradients: `requested`, else `HPCDL_TRAIN_THREADS`, else the
 * available cores capped at MAX_DEFAULT_THREADS; never more than the batch has images.
 */
export function gradientThreads(requested: number | undefined, batchSize: number): number {
  const threads = requested ?? threadsFromEnv() ?? Math.min(availableCores(), MAX_DEFAULT_THREADS);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  return Math.max(1, Math.min(threads, batchSize));
}

function threadsFromEnv(): number | undefined {
  const raw = process.env.HPCDL_TRAIN_THREADS;
  if (raw === undefined || raw.trim() === '') return undefined;
  const threads = Number(raw);
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`HPCDL_TRAIN_THREADS must be a positive integer, got '${raw}'`);
  return threads;
}

function availableCores(): number {
  const withParallelism = os as typeof os & { availableParallelism?: () => number };
  return withParallelism.availableParallelism ? withParallelism.availableParallelism() : os.cpus().length;
}
