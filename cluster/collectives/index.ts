/**
 * Process groups and collectives (ring allreduce, broadcast, allgather,
 * barrier) over direct rank-to-rank links. See docs/collectives.md.
 */
export type { ProcessGroup, GroupSpec, JoinOptions, ReduceOp, Compression, CollectiveStats, AllreduceOptions } from './types';
export { joinGroup } from './join-group';
export { groupFromSlurmEnv } from './slurm-env';
export { currentGroup, setCurrentGroup } from './current-group';
export { runInGroup, type GroupTaskArgs } from './group-task';
export { pointToPoint, PointToPoint, type PeerMessage } from './point-to-point';
