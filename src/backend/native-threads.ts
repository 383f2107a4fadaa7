import * as os from 'node:os';

/**
 * Threads a native backend computes with when nobody said: `HPCDL_TRAIN_THREADS` (what the
 * local launcher gives each engine, so engines sharing a node do not oversubscribe it), else
 * the cores available to this process.
 */
export function defaultNativeThreads(): number {
  const raw = process.env.HPCDL_TRAIN_THREADS?.trim();
  const fromEnv = raw ? Number(raw) : NaN;
  if (Number.isInteger(fromEnv) && fromEnv >= 1) return fromEnv;
  const withParallelism = os as typeof os & { availableParallelism?: () => number };
  return withParallelism.availableParallelism ? withParallelism.availableParallelism() : os.cpus().length;
}
