/**
 * The seed's parameter-server layout (HCB v1 `setup_clusters.py`): of N ranks
 * the first `numPs` are parameter servers, the others workers with
 * `task_index = rank - numPs`; worker 0 is the chief (logs, checkpoints).
 * Each server holds one contiguous slice of the flattened variables (equal
 * sizes, so the servers share the traffic and the Adam work evenly) and the
 * Adam moments of that slice.
 *
 * src/ knows nothing of the cluster: `ParameterServerGroup` is what this mode
 * needs of a process group (cluster/collectives' group plus its
 * point-to-point.ts messages satisfies it).
 */
import { setupDifferences, type RankSetup } from './data-parallel';

export type UpdateMode = 'sync' | 'async';

export interface ParameterServerLayout {
  /** how many of the ranks are parameter servers (the first ones) */
  numPs: number;
  /** 'sync': SyncReplicasOptimizer (aggregate workers - numHotSpares pushes per step); 'async': every push applied at once */
  mode: UpdateMode;
  /** sync: workers whose gradients a step does not wait for (late ones are dropped and counted) */
  numHotSpares: number;
}

export interface PeerMessage {
  meta: Record<string, unknown>;
  data?: Float32Array;
}

/** What parameter-server training needs of a group: one setup exchange, then ordered messages between two ranks. */
export interface ParameterServerGroup {
  readonly rank: number;
  readonly size: number;
  allgatherJson<T>(value: T): Promise<T[]>;
  send(peer: number, message: PeerMessage): Promise<void>;
  /** the next message from `peer`, in the order it sent them */
  recv(peer: number): Promise<PeerMessage>;
}

export type Role = { role: 'ps'; index: number } | { role: 'worker'; index: number; chief: boolean };

export function roleOf(rank: number, numPs: number): Role {
  return rank < numPs ? { role: 'ps', index: rank } : { role: 'worker', index: rank - numPs, chief: rank === numPs };
}

/** Refuse a layout the seed would refuse, naming the field. */
export function checkLayout(layout: ParameterServerLayout, size: number): ParameterServerLayout {
  const { numPs, mode, numHotSpares } = layout;
  if (!Number.isInteger(numPs) || numPs < 1) throw new Error(`num_ps must be a positive integer for the parameter-server strategy, got ${JSON.stringify(numPs)}`);
  if (numPs >= size) throw new Error(`num_ps ${numPs} leaves no worker among ${size} ranks (the seed refuses as many parameter servers as nodes)`);
  if (mode !== 'sync' && mode !== 'async') throw new Error(`mode must be 'sync' or 'async', got ${JSON.stringify(mode)}`);
  const workers = size - numPs;
  if (!Number.isInteger(numHotSpares) || numHotSpares < 0) throw new Error(`num_hot_spares must be a non-negative integer, got ${JSON.stringify(numHotSpares)}`);
  if (mode === 'sync' && numHotSpares >= workers) throw new Error(`num_hot_spares ${numHotSpares} must be smaller than the ${workers} workers (${size} ranks - ${numPs} parameter servers)`);
  return layout;
}

/** [start, end) of each server's slice of `total` flattened values. */
export function shardRanges(total: number, numPs: number): [number, number][] {
  return Array.from({ length: numPs }, (_, p) => [Math.floor((p * total) / numPs), Math.floor(((p + 1) * total) / numPs)]);
}

/** What each rank brings to the one setup exchange (allgatherJson over every rank). */
export type SetupInfo =
  | { role: 'ps'; packageVersion: string; layout: ParameterServerLayout }
  | { role: 'worker'; packageVersion: string; layout: ParameterServerLayout; stepsPerEpoch: number; setup: RankSetup };

/**
 * Every rank's setup, checked: the roles follow the layout, every rank has the same layout and
 * package version, the workers the same config, model and shapes. Returns the steps per epoch
 * every worker can train (the smallest shard decides).
 */
export async function exchangeSetup(group: ParameterServerGroup, mine: SetupInfo): Promise<{ stepsPerEpoch: number }> {
  const infos = await group.allgatherJson(mine);
  const problems: string[] = [];
  const roleName = (role: string) => (role === 'ps' ? 'a parameter server' : 'a worker');
  infos.forEach((info, rank) => {
    if (rank === 0) return;
    if (JSON.stringify(info.layout) !== JSON.stringify(infos[0].layout)) problems.push(`layout: rank 0 has ${JSON.stringify(infos[0].layout)}, rank ${rank} has ${JSON.stringify(info.layout)}`);
    if (info.packageVersion !== infos[0].packageVersion) problems.push(`package version: rank 0 has ${infos[0].packageVersion}, rank ${rank} has ${info.packageVersion}`);
  });
  infos.forEach((info, rank) => {
    const expected = roleOf(rank, mine.layout.numPs).role;
    if (info.role !== expected) problems.push(`rank ${rank} runs as ${roleName(info.role)} where num_ps ${mine.layout.numPs} makes it ${roleName(expected)}`);
  });
  const workers = infos.filter((i): i is Extract<SetupInfo, { role: 'worker' }> => i.role === 'worker');
  problems.push(...setupDifferences(workers.map((w) => w.setup)).map((p) => `workers (rank = worker index): ${p}`));
  if (problems.length > 0) throw new Error(`the ranks of this training differ, refusing to start: ${problems.join('; ')}`);
  return { stepsPerEpoch: Math.min(...workers.map((w) => w.stepsPerEpoch)) };
}

/** The seed's line for the update mode (HCB v1, printed by every worker). */
export function modeLine(rank: number, mode: UpdateMode): string {
  return `Rank ${rank} performing ${mode === 'sync' ? 'synchronous' : 'asynchronous'} updates`;
}
