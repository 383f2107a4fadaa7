/**
 * Which distributed strategy `cluster.train` uses: Horovod-style allreduce,
 * or the seed's parameter servers when the config's `num_ps` (or option
 * `numPs`) is above 0 — option `strategy` overrides either way.
 */
import { checkLayout, type ParameterServerLayout, type UpdateMode } from '../../src/train';
import type { RankJob } from './rank-task';

export type TrainingStrategy = 'allreduce' | 'parameter-server';

export interface StrategyOptions {
  /** default: 'parameter-server' when num_ps (config or option) > 0, else 'allreduce' */
  strategy?: TrainingStrategy;
  /** parameter servers, the first ranks (default: the HEP config's num_ps, else 1 with strategy 'parameter-server') */
  numPs?: number;
  /** default: the HEP config's mode, else 'sync' */
  mode?: UpdateMode;
  /** sync: workers a step does not wait for (default: the HEP config's num_hot_spares, else 0) */
  numHotSpares?: number;
}

/** The parameter-server layout for a group of `size` ranks, or undefined for allreduce. */
export function parameterServerLayout(opts: StrategyOptions, job: RankJob, size: number): ParameterServerLayout | undefined {
  const hep = job.kind === 'hep' ? job.train.config : undefined;
  const numPs = opts.numPs ?? hep?.num_ps ?? 0;
  const strategy = opts.strategy ?? (numPs > 0 ? 'parameter-server' : 'allreduce');
  if (strategy !== 'allreduce' && strategy !== 'parameter-server') throw new Error(`cluster.train: strategy must be 'allreduce' or 'parameter-server', got ${JSON.stringify(strategy)}`);
  if (strategy === 'allreduce') return undefined;
  const layout: ParameterServerLayout = { numPs: numPs > 0 ? numPs : 1, mode: opts.mode ?? hep?.mode ?? 'sync', numHotSpares: opts.numHotSpares ?? hep?.num_hot_spares ?? 0 };
  try {
    return checkLayout(layout, size);
  } catch (err) {
    throw new Error(`cluster.train: ${(err as Error).message}`);
  }
}

/** "parameter server 0" / "worker 1" for rank `rank` of a parameter-server group, else '' */
export function roleLabel(layout: ParameterServerLayout | undefined, rank: number): string {
  if (!layout) return '';
  return rank < layout.numPs ? `parameter server ${rank}` : `worker ${rank - layout.numPs}${rank === layout.numPs ? ', the chief' : ''}`;
}
