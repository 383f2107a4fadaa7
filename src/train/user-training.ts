/**
 * Any model through the same training path as the HEP CNN: a user module
 * exports a model builder and a batch source (the generic loop contract of
 * loop.ts: `TrainableModel` + `BatchSource`), and `trainUserModel` trains it
 * alone or as one rank of a data-parallel group.
 *
 *   // my-model.ts
 *   export const training: UserTraining = {
 *     buildModel: ({ seed }) => new MyMlp(seed),
 *     batchSource: ({ split, rank, size, batchSize }) => split === 'train' ? new MySource(rank, size, batchSize) : null,
 *   };
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BatchSource } from '../data/types';
import type { TrainableModel } from '../model/types';
import { initBackend } from '../backend';
import { Adam } from './adam';
import { latestCheckpoint, namedVariablesOf } from './checkpoint';
import { DataParallel, type DataParallelGroup, type DataParallelOptions } from './data-parallel';
import { ParameterServerWorker, workerPosition, type ParameterServerTraining } from './ps-worker';
import { trainLoop, type LossFunction, type TrainEvent, type TrainResult } from './loop';
import { RunRecorder, setAsidePreviousRun } from './record';
import { packageVersion } from '../package-info';

/** Hyper-parameters of a user-module training (anything else is passed through to the builders). */
export interface UserRunConfig {
  /** global batch: each of N ranks reads batch/N events per step (must divide evenly) */
  batchSize: number;
  learningRate: number;
  epochs: number;
  validationBatchSize?: number;
  maxSteps?: number;
  seed?: number;
  [key: string]: unknown;
}

export interface RankContext {
  rank: number;
  size: number;
  seed: number;
  config: UserRunConfig;
}

export interface UserTraining {
  buildModel(ctx: RankContext): TrainableModel | Promise<TrainableModel>;
  /** this rank's shard of a split at this rank's batch size; null: no such split */
  batchSource(ctx: RankContext & { split: 'train' | 'validation'; batchSize: number }): BatchSource | null | Promise<BatchSource | null>;
  loss?: LossFunction;
}

export interface UserTrainOptions {
  config: UserRunConfig;
  /** checkpoints in `<outputDir>/models`, logs in `<outputDir>/logs` (rank 0) */
  outputDir: string;
  resume?: boolean;
  group?: DataParallelGroup;
  /** train as a worker of parameter-server training instead (ps-worker.ts); worker 0 is the chief */
  parameterServer?: ParameterServerTraining;
  lrScaling?: DataParallelOptions['lrScaling'];
  warmup?: DataParallelOptions['warmup'];
  compression?: DataParallelOptions['compression'];
  /** checkpoint every this many steps (default: once per epoch) */
  checkpointInterval?: number;
  displayInterval?: number;
  log?: (line: string) => void;
  onEvent?: (event: TrainEvent) => void;
  signal?: AbortSignal;
  /** force a backend (else HPCDL_BACKEND, else the best available) */
  backend?: string;
}

export interface UserTrainResult extends TrainResult {
  model: string;
  modelsDir: string;
}

/** Check a user module's export: both functions present, or an error naming what is missing. */
export function asUserTraining(value: unknown, where: string): UserTraining {
  const t = value as Partial<UserTraining> | undefined;
  const missing = ['buildModel', 'batchSource'].filter((k) => typeof (t as Record<string, unknown> | undefined)?.[k] !== 'function');
  if (!t || missing.length > 0) throw new Error(`${where} must export an object with functions buildModel(ctx) and batchSource(ctx); missing: ${missing.join(', ')}`);
  return t as UserTraining;
}

export async function trainUserModel(training: UserTraining, opts: UserTrainOptions): Promise<UserTrainResult> {
  const group = opts.group;
  const ps = opts.parameterServer;
  if (group && ps) throw new Error('user training: give group (allreduce) or parameterServer, not both');
  const { rank, size } = ps ? workerPosition(ps) : { rank: group?.rank ?? 0, size: group?.size ?? 1 };
  const config = checkConfig(opts.config, size);
  const quiet = rank !== 0;
  const baseLog = opts.log ?? ((line: string) => console.log(line));
  const modelsDir = path.join(opts.outputDir, 'models');
  const setAside = !quiet && !opts.resume ? setAsidePreviousRun(opts.outputDir, rank, true) : undefined;
  if (!quiet) fs.mkdirSync(modelsDir, { recursive: true });
  const recorder = quiet ? undefined : new RunRecorder(path.join(opts.outputDir, 'logs'), rank);
  const log = (line: string) => {
    recorder?.line(line);
    if (!quiet || /^(Rank \d+ :|Warning|Error)/.test(line)) baseLog(line);
  };
  if (setAside) log(`Rank ${rank} : starting fresh; the earlier run's ${setAside.describe} moved to ${setAside.dir}`);
  await initBackend({ force: opts.backend, log });
  const seed = config.seed ?? 12345;
  const ctx: RankContext = { rank, size, seed, config };
  const model = await training.buildModel(ctx);
  const sources: BatchSource[] = [];
  const optimizer = new Adam({ learningRate: config.learningRate });
  try {
    log(`Rank ${rank} : Building model ${model.name}`);
    const setup = () => ({ config: config as Record<string, unknown>, shapes: Object.fromEntries(namedVariablesOf(model).map((n) => [n.name, n.variable.shape])), packageVersion: packageVersion(), model: model.name });
    const dataParallel = group ? new DataParallel({ group, lrScaling: opts.lrScaling, warmup: opts.warmup, compression: opts.compression }) : undefined;
    if (dataParallel) await dataParallel.assertSameSetup(setup());
    const remoteUpdate = ps ? new ParameterServerWorker({ ...ps, setup: setup() }) : undefined;
    const train = await training.batchSource({ ...ctx, split: 'train', batchSize: config.batchSize / size });
    if (!train) throw new Error(`batchSource({split: 'train'}) of model ${model.name} returned nothing`);
    sources.push(train);
    // parameter servers: the chief validates the whole split, the other workers none
    const validationCtx = ps ? { ...ctx, rank: 0, size: 1 } : ctx;
    const validation = ps && rank !== 0 ? undefined : ((await training.batchSource({ ...validationCtx, split: 'validation', batchSize: (config.validationBatchSize ?? config.batchSize) / validationCtx.size })) ?? undefined);
    if (validation) sources.push(validation);
    const resumeFrom = opts.resume && rank === 0 ? latestCheckpoint(modelsDir) : undefined;
    const result = await trainLoop({
      model,
      train,
      validation,
      optimizer,
      epochs: config.epochs,
      maxSteps: config.maxSteps,
      displayInterval: opts.displayInterval,
      checkpoint: { dir: modelsDir, interval: opts.checkpointInterval },
      resumeFrom,
      loss: training.loss,
      log,
      onEvent: (event) => {
        recorder?.event(event);
        opts.onEvent?.(event);
      },
      signal: opts.signal,
      dataParallel,
      remoteUpdate,
    });
    return { ...result, model: model.name, modelsDir };
  } finally {
    for (const s of sources) await s.close();
    optimizer.dispose();
    model.dispose();
  }
}

function checkConfig(config: UserRunConfig, size: number): UserRunConfig {
  if (!config || typeof config !== 'object') throw new Error('user training: config must be an object with batchSize, learningRate and epochs');
  for (const key of ['batchSize', 'learningRate', 'epochs'] as const) {
    if (typeof config[key] !== 'number' || !(config[key] > 0)) throw new Error(`user training: config.${key} must be a positive number, got ${JSON.stringify(config[key])}`);
  }
  for (const key of ['batchSize', 'validationBatchSize'] as const) {
    const b = config[key];
    if (b !== undefined && (!Number.isInteger(b) || b % size !== 0)) {
      throw new Error(`user training: config.${key} ${b} is the global batch and must be a multiple of the ${size} ranks`);
    }
  }
  return config;
}
