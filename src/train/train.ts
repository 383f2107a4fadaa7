import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import type { HepConfig } from '../config/types';
import type { BatchSource } from '../data/types';
import { assertTrainable, configSummaryLines, derivedValues, loadConfig, overrideConfig } from '../config';
import { openEventSource } from '../data';
import { buildHepCnn, countParameters } from '../model';
import { initBackend } from '../backend';
import { Adam } from './adam';
import { hashJson, latestCheckpoint, namedVariablesOf } from './checkpoint';
import { runIoTest, type IoTestResult } from './iotest';
import { RunRecorder, setAsidePreviousRun } from './record';
import { SummaryWriter } from './summary';
import { gradientThreads } from './threads';
import { modeLine } from './ps-layout';
import { trainLoop, type TrainEvent, type TrainResult } from './loop';
import { DataParallel, type DataParallelGroup, type DataParallelOptions } from './data-parallel';
import { ParameterServerWorker, workerPosition, type ParameterServerTraining } from './ps-worker';
import { packageVersion } from '../package-info';

export interface TrainOptions {
  /** a validated config; or give `configPath` */
  config?: HepConfig;
  configPath?: string;
  /** random images instead of files (the seed's --dummy_data) */
  dummyData?: boolean;
  /** overrides `num_epochs` */
  epochs?: number;
  /** overrides `outputpath` (logs/ and models/ go below it) */
  outputDir?: string;
  /** overrides `inputpath` */
  inputPath?: string;
  mode?: 'train' | 'iotest';
  /** bf16: convolutions in bf16 on the onednn backend, fp32 master weights */
  precision?: 'fp32' | 'fp16' | 'bf16';
  /** force every training weight to 1 (overrides `use_weights_in_training`) */
  unweighted?: boolean;
  /** train with `normweight` (overrides `use_weights_in_training`) */
  weighted?: boolean;
  /** stop at this global step */
  maxSteps?: number;
  /**
   * true: continue from the newest checkpoint in `<output>/models` (the CLI's --resume); false: start
   * fresh (--fresh). Default: the config's `restart` as the seed reads it — `restart: false` restores
   * the newest checkpoint when there is one, `restart: true` starts fresh. A fresh start moves an
   * earlier run's checkpoints and logs aside (`<output>/previous/<time>/`) and says so.
   */
  resume?: boolean;
  /** refuse (default) or skip and count events whose image or weights hold NaN or ±Infinity */
  nonFinite?: 'refuse' | 'skip';
  /**
   * when `maxSteps` stops the run inside an epoch, validate the model anyway (a `partial` history
   * record, no COMPLETED line); searches use it to score a trial cut short
   */
  validateAtStop?: boolean;
  rank?: number;
  size?: number;
  /** force a backend (else HPCDL_BACKEND, else the best available) */
  backend?: string;
  /**
   * threads computing the gradients (default: HPCDL_TRAIN_THREADS, else the cores, at most 8).
   * Give 1 per rank when several ranks share a machine.
   */
  threads?: number;
  log?: (line: string) => void;
  onEvent?: (event: TrainEvent) => void;
  /** progress bar on this stream; `true` = stdout when it is a terminal */
  progress?: boolean | NodeJS.WriteStream;
  /** stop after the current step and write a checkpoint (the CLI wires Ctrl-C to it) */
  signal?: AbortSignal;
  /** data-parallel hook passed to the loop */
  reduceGradients?: (gradients: tf.Tensor[], step: number) => Promise<tf.Tensor[]>;
  /**
   * Train as one rank of this process group (Horovod style, see data-parallel.ts): rank and
   * size come from the group, the ranks' configs, shapes and versions must agree, only rank 0
   * logs to files and writes checkpoints.
   */
  group?: DataParallelGroup;
  /** with `group`: learning-rate scaling ('linear' by default), warm-up, gradient compression */
  lrScaling?: DataParallelOptions['lrScaling'];
  warmup?: DataParallelOptions['warmup'];
  compression?: DataParallelOptions['compression'];
  /** train as a worker of parameter-server training instead of `group` (ps-worker.ts); worker 0 is the chief */
  parameterServer?: ParameterServerTraining;
}

export interface TrainRunResult extends TrainResult {
  mode: 'train';
  config: HepConfig;
  backend: string;
  outputDir: string;
  modelsDir: string;
  /** `<output>/logs/train_rank<r>.log`: every log line of the run (not written by ranks > 0 of a group) */
  logPath?: string;
  /** `<output>/logs/metrics_rank<r>.jsonl`: every TrainEvent as a JSON line (not written by ranks > 0 of a group) */
  metricsPath?: string;
  /** `<output>/plots/training.html` (rank 0) */
  curvesPath?: string;
}

export type IoTestRunResult = IoTestResult & { config: HepConfig; backend: string };

/** Config keys that do not change what a checkpoint means (a restart may change them). */
const RUN_ONLY_KEYS = ['num_epochs', 'outputpath', 'inputpath', 'restart', 'display_interval', 'checkpoint_interval', 'save_interval', 'time'];

/** Config keys that may differ between the ranks of one training (each node may read its own copy of the data). */
const PER_RANK_KEYS = ['inputpath', 'outputpath'];

export function configHash(config: HepConfig): string {
  const relevant = Object.fromEntries(Object.entries(config).filter(([k]) => !RUN_ONLY_KEYS.includes(k)));
  return hashJson(relevant);
}

/** The config with the command-line overrides applied (and validated again). */
export function resolveConfig(opts: Pick<TrainOptions, 'config' | 'configPath' | 'epochs' | 'outputDir' | 'inputPath' | 'log'>): HepConfig {
  const log = opts.log ?? ((line: string) => console.log(line));
  const warn = (s: string) => log(`Warning: ${s}`);
  let config: HepConfig;
  if (opts.config) config = opts.config;
  else if (opts.configPath) config = loadConfig(opts.configPath, { warn });
  else throw new Error('train: give a config or a configPath');
  if (opts.epochs !== undefined && (!Number.isInteger(opts.epochs) || opts.epochs < 1)) {
    throw new Error(`--epochs must be a positive integer, got ${opts.epochs}`);
  }
  const overrides = { num_epochs: opts.epochs, outputpath: opts.outputDir, inputpath: opts.inputPath };
  if (!opts.config && Object.values(overrides).every((v) => v === undefined)) return config;
  return overrideConfig(config, overrides, { warn });
}

export function useWeightsFor(config: HepConfig, opts: Pick<TrainOptions, 'unweighted' | 'weighted'>): boolean {
  if (opts.unweighted && opts.weighted) throw new Error('--weighted and --unweighted contradict each other');
  if (opts.unweighted) return false;
  if (opts.weighted) return true;
  return config.use_weights_in_training ?? false;
}

/** The config's input shape as [C,H,W], whatever its data_format. */
export function chwShape(config: HepConfig): [number, number, number] {
  const [a, b, c] = config.input_shape;
  return config.conv_params.data_format === 'NCHW' ? [a, b, c] : [c, a, b];
}

function progressStream(progress: TrainOptions['progress']): NodeJS.WriteStream | undefined {
  if (progress === true) return process.stdout.isTTY ? process.stdout : undefined;
  return progress || undefined;
}

/** Train the HEP CNN from a config: the library form of `hpcdl train`. */
export async function train(opts: TrainOptions): Promise<TrainRunResult | IoTestRunResult> {
  const group = opts.group;
  if (group && ((opts.rank !== undefined && opts.rank !== group.rank) || (opts.size !== undefined && opts.size !== group.size))) {
    throw new Error(`train: rank ${opts.rank}/size ${opts.size} contradict the process group (rank ${group.rank} of ${group.size})`);
  }
  const ps = opts.parameterServer;
  if (ps && group) throw new Error('train: give group (allreduce) or parameterServer, not both');
  const worker = ps ? workerPosition(ps) : undefined;
  const rank = worker?.rank ?? group?.rank ?? opts.rank ?? 0;
  const size = worker?.size ?? group?.size ?? opts.size ?? 1;
  // a group speaks through rank 0 (parameter servers: the chief); the others say only who they are and what went wrong
  const quiet = (group !== undefined || ps !== undefined) && rank !== 0;
  const baseLog = opts.log ?? ((line: string) => console.log(line));
  const log = quiet ? (line: string) => (/^(Rank \d+ :|Warning|Error)/.test(line) ? baseLog(line) : undefined) : baseLog;
  if (!Number.isInteger(size) || size < 1) throw new Error(`--size must be a positive integer, got ${size}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new Error(`--rank must be an integer in [0, ${size - 1}], got ${rank}`);
  const startLines: string[] = [];
  const startLog = (line: string) => {
    startLines.push(line);
    log(line);
  };
  const config = resolveConfig({ ...opts, log: startLog });
  const backend = await initBackend({ force: opts.backend, log: startLog });
  assertTrainable(config, backend.name);
  for (const line of configSummaryLines(config)) startLog(line);

  const { perNodeBatch } = derivedValues(config, size);
  const layout = config.conv_params.data_format;
  const seed = config.seed ?? 12345;
  const sourceOptions = { inputPath: config.inputpath, layout, rank, size, seed, dummy: opts.dummyData ?? false, imageShape: chwShape(config), nonFinite: opts.nonFinite, log };
  if ((opts.mode ?? 'train') === 'iotest') {
    const source = await openEventSource({ ...sourceOptions, split: 'train', batchSize: perNodeBatch, shuffle: true });
    try {
      const result = await runIoTest(source, { maxBatches: opts.maxSteps, log });
      return { ...result, config, backend: backend.name };
    } finally {
      await source.close();
    }
  }

  const outputDir = config.outputpath;
  const modelsDir = path.join(outputDir, 'models');
  // the data is opened (and its files checked) before anything in the output directory is touched
  const sources: BatchSource[] = [];
  const closeSources = async () => {
    for (const source of sources.splice(0)) await source.close();
  };
  let trainSource: BatchSource;
  let validationSource: BatchSource | undefined;
  try {
    trainSource = await openEventSource({ ...sourceOptions, split: 'train', batchSize: perNodeBatch, shuffle: true, dropRemainder: true });
    sources.push(trainSource);
    // parameter servers: the chief validates the whole split, the other workers none
    validationSource = ps && rank !== 0 ? undefined : await openEventSource({
      ...sourceOptions,
      ...(ps ? { rank: 0, size: 1 } : {}),
      split: 'val',
      batchSize: config.validation_batch_size,
      shuffle: false,
      dropRemainder: false,
    });
    if (validationSource) sources.push(validationSource);
  } catch (err) {
    await closeSources();
    throw err;
  }
  const stepsPerEpoch = Math.floor(trainSource.numEvents / trainSource.batchSize);
  if (stepsPerEpoch < 1) {
    await closeSources();
    throw new Error(`${config.inputpath}: rank ${rank} has ${trainSource.numEvents} training events, fewer than one batch of ${perNodeBatch}`);
  }

  const resume = opts.resume ?? !config.restart;
  // a run that restores nothing starts a new record: an earlier run's logs (and, on rank 0 which
  // writes checkpoints, its checkpoints) are moved aside, never appended to or overwritten
  const restoring = resume && latestCheckpoint(modelsDir) !== undefined;
  const setAside = !restoring && !quiet ? setAsidePreviousRun(outputDir, rank, rank === 0) : undefined;
  fs.mkdirSync(modelsDir, { recursive: true });
  const recorder = quiet ? undefined : new RunRecorder(path.join(outputDir, 'logs'), rank);
  const summary = config.create_summary && !quiet && rank === 0 ? new SummaryWriter(path.join(outputDir, 'logs'), rank) : undefined;
  const runLog = (line: string) => {
    recorder?.line(line);
    log(line);
  };
  for (const line of startLines) recorder?.line(line);
  if (setAside) {
    const why = resume ? 'no checkpoint to restore' : opts.resume === false ? '--fresh' : 'restart: true';
    runLog(`Rank ${rank} : starting fresh (${why}); the earlier run's ${setAside.describe} moved to ${setAside.dir}`);
  }

  runLog(`Rank ${rank} : Building model`);
  const model = buildHepCnn(config, { seed, precision: opts.precision ?? 'fp32' });
  runLog(`Rank ${rank} : ${model.name} with ${countParameters(model)} trainable parameters`);
  const optimizer = new Adam({ learningRate: config.learning_rate });
  const comparableConfig = Object.fromEntries(Object.entries(config).filter(([k]) => !PER_RANK_KEYS.includes(k)));
  const shapes = Object.fromEntries(namedVariablesOf(model).map((n) => [n.name, n.variable.shape]));
  const dataParallel = group ? new DataParallel({ group, lrScaling: opts.lrScaling, warmup: opts.warmup, compression: opts.compression }) : undefined;
  // the seed's line (v1 prints its inter-/intra-op thread counts): one op at a time, the batch split over the gradient threads
  runLog(`Rank ${rank} : using  1 -way task parallelism with  ${gradientThreads(opts.threads, perNodeBatch)} -way data parallelism.`);
  if (!ps) runLog(modeLine(rank, group ? 'sync' : 'async'));
  if (dataParallel) {
    runLog(`Rank ${rank} : data parallelism over ${size} ranks (synchronous allreduce)`);
    await dataParallel.assertSameSetup({ config: comparableConfig, shapes, packageVersion: packageVersion(), model: model.name });
  }
  const remoteUpdate = ps ? new ParameterServerWorker({ ...ps, setup: { config: comparableConfig, shapes, packageVersion: packageVersion(), model: model.name } }) : undefined;
  try {
    const seedSteps = derivedValues(config, size).stepsPerEpoch;
    if (!opts.dummyData && seedSteps !== stepsPerEpoch) {
      runLog(`Warning: trainsamples ${config.trainsamples} makes ${seedSteps} steps per epoch, but rank ${rank}'s training files make ${stepsPerEpoch} full batches of ${perNodeBatch}; hpcdl counts an epoch as one pass over the files (the seed would stop at global step ${seedSteps * config.num_epochs})`);
    }
    const resumeFrom = resume && rank === 0 ? latestCheckpoint(modelsDir) : undefined;
    if (resume && rank === 0 && !resumeFrom) runLog(`Rank ${rank} : no checkpoint in ${modelsDir}, starting from scratch`);
    const useWeights = useWeightsFor(config, opts);
    runLog(`Rank ${rank} : training loss weights: ${useWeights ? 'normweight' : 'all 1 (unweighted, as the seed)'}`);
    const result = await trainLoop({
      model,
      train: trainSource,
      validation: validationSource,
      validationInterval: config.validation_interval,
      validationMaxBatches: config.validation_max_steps,
      validateAtStop: opts.validateAtStop,
      optimizer,
      epochs: config.num_epochs,
      maxSteps: opts.maxSteps,
      useWeights,
      displayInterval: config.display_interval,
      checkpoint: { dir: modelsDir, interval: config.checkpoint_interval, configHash: configHash(config) },
      resumeFrom,
      rank,
      log: runLog,
      onEvent: (event) => {
        recorder?.event(event);
        summary?.event(event);
        opts.onEvent?.(event);
      },
      progress: progressStream(opts.progress),
      reduceGradients: opts.reduceGradients,
      signal: opts.signal,
      threads: opts.threads,
      dataParallel,
      remoteUpdate,
    });
    const curvesPath = rank === 0 ? recorder?.writeCurves(path.join(outputDir, 'plots'), `hpcdl training — ${model.name}`) : undefined;
    if (curvesPath) runLog(`Training curves: ${curvesPath}`);
    return { ...result, mode: 'train', config, backend: backend.name, outputDir, modelsDir, logPath: recorder?.logPath, metricsPath: recorder?.metricsPath, curvesPath };
  } finally {
    await closeSources();
    optimizer.dispose();
    model.dispose();
  }
}
