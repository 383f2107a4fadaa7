/**
 * Task module: one rank of a data-parallel training, run on an engine. It
 * joins the process group (rank 0 publishes its listener with
 * `report({ rendezvous })`, the client then starts the other ranks with it
 * as `master`), checks that every rank has the same config, parameter shapes
 * and package version, trains (src/train, Horovod semantics), and closes the
 * group. Training events stream to the client with `report()`; gradients go
 * rank to rank, never through the controller.
 */
import * as os from 'node:os';
import { joinGroup } from '../collectives';
import type { GroupSpec, ProcessGroup } from '../collectives';
import { report, taskContext } from '../engine/task-api';
import {
  asUserTraining,
  train,
  trainUserModel,
  type DataParallelTrainingOptions,
  type EpochRecord,
  type TrainEvent,
  type TrainOptions,
  type UserRunConfig,
  type ParameterServerLayout,
  type ParameterServerStats,
} from '../../src/train';
import { parameterServerGroup, serveRank } from './ps-rank';

/** The options of `train()` that cross the wire for a HEP CNN rank. */
export type HepRankOptions = Omit<TrainOptions, 'log' | 'onEvent' | 'progress' | 'signal' | 'reduceGradients' | 'group' | 'rank' | 'size'>;

export type RankJob =
  | { kind: 'hep'; train: HepRankOptions }
  | { kind: 'module'; module: string; export: string; config: UserRunConfig; outputDir: string; checkpointInterval?: number; displayInterval?: number };

export interface RankTaskArgs {
  group: GroupSpec;
  job: RankJob;
  /** continue from rank 0's newest checkpoint */
  resume: boolean;
  lrScaling?: DataParallelTrainingOptions['lrScaling'];
  warmup?: DataParallelTrainingOptions['warmup'];
  compression?: DataParallelTrainingOptions['compression'];
  /** a silent peer is declared dead after this long (collectives default when absent) */
  heartbeatTimeoutMs?: number;
  /** parameter-server strategy: the first numPs ranks serve the variables, the others train (ps-rank.ts) */
  parameterServer?: ParameterServerLayout;
}

export interface RankResult {
  rank: number;
  size: number;
  engineId: number | null;
  host: string;
  globalStep: number;
  weightsHash?: string;
  history: EpochRecord[];
  lastCheckpoint?: string;
  imagesPerSec?: number;
  totalSeconds: number;
  /** ms in gradient allreduces over the run, and their number */
  commMs: number;
  steps: number;
  /** this rank's group counters (collectives' stats) */
  groupStats: { bytesSent: number; bytesReceived: number; commMs: number; calls: number };
  interrupted: boolean;
  /** parameter-server strategy: this rank's role, and the servers' counters (a server: its own; a worker: every server's at the end) */
  role?: 'ps' | 'worker';
  parameterServers?: ParameterServerStats[];
}

const REPORTED = new Set<TrainEvent['type']>(['start', 'step', 'epoch', 'validation', 'checkpoint', 'done']);

export async function trainRank(args: RankTaskArgs): Promise<RankResult> {
  const ctx = taskContext();
  const host = ctx?.host ?? os.hostname();
  const group: ProcessGroup = await joinGroup({
    ...args.group,
    engineId: ctx?.engineId ?? null,
    heartbeatTimeoutMs: args.heartbeatTimeoutMs,
    onListening: (address) => report({ type: 'rendezvous', rendezvous: address, rank: args.group.rank }),
  });
  report({ type: 'joined', rank: group.rank, size: group.size, host, pid: process.pid });
  const onEvent = (event: TrainEvent) => {
    if (REPORTED.has(event.type)) report({ ...event });
  };
  const log = (line: string) => console.log(line);
  const ps = args.parameterServer;
  try {
    if (ps && group.rank < ps.numPs) return await serveRank(args, group, ctx?.engineId ?? null, host);
    const dp: DpOptions = ps ? { parameterServer: { group: parameterServerGroup(group), layout: ps } } : { group, lrScaling: args.lrScaling, warmup: args.warmup, compression: args.compression };
    const result =
      args.job.kind === 'hep'
        ? await trainHepRank(args.job.train, args.resume, dp, log, onEvent)
        : await trainModuleRank(args.job, args.resume, dp, log, onEvent);
    return {
      rank: group.rank,
      size: group.size,
      engineId: ctx?.engineId ?? null,
      host,
      globalStep: result.globalStep,
      weightsHash: result.weightsHash,
      history: result.history,
      lastCheckpoint: result.lastCheckpoint,
      imagesPerSec: result.imagesPerSec,
      totalSeconds: result.totalSeconds,
      commMs: result.communication?.commMs ?? 0,
      steps: result.communication?.steps ?? 0,
      groupStats: { ...group.stats },
      interrupted: result.interrupted,
      ...(ps ? { role: 'worker' as const, parameterServers: result.parameterServers } : {}),
    };
  } finally {
    await group.close();
  }
}

type DpOptions = Pick<TrainOptions, 'group' | 'lrScaling' | 'warmup' | 'compression' | 'parameterServer'>;

async function trainHepRank(options: HepRankOptions, resume: boolean, dp: DpOptions, log: (l: string) => void, onEvent: (e: TrainEvent) => void) {
  // a first attempt follows the config's restart key; a restart after a failure restores the newest checkpoint
  const result = await train({ ...options, ...dp, resume: resume ? true : undefined, log, onEvent });
  if (result.mode !== 'train') throw new Error('a distributed training rank cannot run in iotest mode');
  return result;
}

async function trainModuleRank(job: Extract<RankJob, { kind: 'module' }>, resume: boolean, dp: DpOptions, log: (l: string) => void, onEvent: (e: TrainEvent) => void) {
  // the engine's task worker registered tsx, so a .ts module loads like a .js one
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(job.module) as Record<string, unknown>;
  const training = asUserTraining(mod[job.export], `${job.module} (export "${job.export}")`);
  return trainUserModel(training, {
    config: job.config,
    outputDir: job.outputDir,
    resume,
    ...dp,
    checkpointInterval: job.checkpointInterval,
    displayInterval: job.displayInterval,
    log,
    onEvent,
  });
}
