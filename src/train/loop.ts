import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import type { BatchSource } from '../data/types';
import type { TrainableModel } from '../model/types';
import { DataParallelGradients, HepCnn, weightedSoftmaxCrossEntropy } from '../model';
import { Adam } from './adam';
import { loadCheckpoint, namedVariablesOf, saveCheckpoint, type NamedVariable } from './checkpoint';
import type { CommunicationTotals, DataParallel } from './data-parallel';
import type { ParameterServerStats } from './parameter-server';
import type { RemoteUpdate } from './ps-worker';
import { binaryMetrics, batchImages, collectPredictions, type BinaryMetrics, type Predictions } from './evaluate';
import { formatF, formatG, timestamp } from './format';
import { ProgressBar } from './progress';
import { gradientThreads } from './threads';
import { steadyThroughput, throughputLines } from './timing';

/** Structured progress, for callers that stream metrics (notebooks, the cluster). */
export type TrainEvent =
  | { type: 'start'; rank: number; model: string; epochs: number; stepsPerEpoch: number; startStep: number; startEpoch: number }
  | {
      type: 'step';
      rank: number;
      step: number;
      epoch: number;
      /** this rank's batch loss; with data parallelism, the mean over the ranks (`rankLoss` is this rank's) */
      loss: number;
      learningRate: number;
      secPerBatch: number;
      imagesPerSec: number;
      /** data parallelism: this rank's own batch loss */
      rankLoss?: number;
      /** data parallelism: ms in this step's gradient allreduce */
      commMs?: number;
      /** data parallelism: number of ranks */
      size?: number;
      /** data parallelism: ms of this whole iteration (reading, gradients, allreduce, update) */
      iterationMs?: number;
      /** parameter servers: updates other workers made between this worker's pull and its push (a dropped sync push: how late it was) */
      staleness?: number;
    }
  | { type: 'epoch'; rank: number; epoch: number; step: number; trainLoss: number; secPerBatch: number }
  | { type: 'validation'; rank: number; epoch: number; step: number; loss: number; accuracy: number; auc: number; events: number; partial?: boolean }
  /** the seed v2's interval (`report`) and end-of-epoch (`epoch summary`) evaluations, at most validation_max_steps batches */
  | { type: 'evaluation'; rank: number; kind: 'report' | 'epoch summary'; epoch: number; step: number; loss: number; accuracy: number; auc: number; events: number }
  | { type: 'checkpoint'; rank: number; epoch: number; step: number; path: string }
  | { type: 'done'; rank: number; step: number; epochs: number; totalSeconds: number; imagesPerSec?: number };

export type LossFunction = (logits: tf.Tensor2D, labels: tf.Tensor1D, weights: tf.Tensor1D) => tf.Scalar;

export interface CheckpointPolicy {
  /** the `models/` directory */
  dir: string;
  /** steps between checkpoints; 0 or undefined = once per epoch */
  interval?: number;
  /** recorded in each manifest so a restart can tell a changed config */
  configHash?: string;
}

export interface TrainLoopOptions {
  model: TrainableModel & { namedWeights?: () => NamedVariable[] };
  train: BatchSource;
  /** a pass over the whole source after every completed epoch, dropout off (the seed v1's COMPLETED epoch lines) */
  validation?: BatchSource;
  /**
   * The seed v2's `validation_interval`: every this many global steps an EVALUATION REPORT on at
   * most `validationMaxBatches` validation batches. It also turns on v2's TRAINING REPORT lines
   * (every `displayInterval` steps) and an EVALUATION EPOCH SUMMARY after each completed epoch.
   */
  validationInterval?: number;
  /** v2's `validation_max_steps`: batches of each v2 evaluation (0/undefined = the whole source); the v1 epoch pass is always whole */
  validationMaxBatches?: number;
  /** when `maxSteps` stops the run inside an epoch, validate anyway (a `partial` record; the epoch is not COMPLETED) */
  validateAtStop?: boolean;
  /** defaults to Adam with a constant 1e-3 */
  optimizer?: Adam;
  epochs: number;
  /** stop once the global step reaches this (0/undefined = no limit) */
  maxSteps?: number;
  /** false: every training and validation weight is 1 (the seed's behaviour); true: `normweight` */
  useWeights?: boolean;
  /** steps between REPORT lines (the seed's display_interval) */
  displayInterval?: number;
  checkpoint?: CheckpointPolicy;
  /** a manifest to continue from: weights, Adam moments, step and epoch */
  resumeFrom?: string;
  rank?: number;
  /** images one iteration processes, for the throughput lines (default: the batch size) */
  imagesPerIteration?: number;
  /** a custom loss; the HEP CNN then takes the plain single-thread path (see `threads`) */
  loss?: LossFunction;
  /**
   * threads computing the HEP CNN's gradients (DataParallelGradients: the batch is split over
   * this thread and worker threads with their own wasm heaps, each shard in passes that fit the
   * heap). Default: HPCDL_TRAIN_THREADS, else the cores (at most 8); never more than the batch.
   * Other models, and a custom `loss`, use tf.variableGrads on this thread over the whole batch.
   */
  threads?: number;
  /** data-parallel hook: e.g. an allreduce mean of the gradients across ranks */
  reduceGradients?: (gradients: tf.Tensor[], step: number) => Promise<tf.Tensor[]>;
  /**
   * Horovod-style training over a process group (see data-parallel.ts): rank 0's state is
   * broadcast first, gradients are averaged every step, validation covers every rank's events.
   * Only rank 0 reads `resumeFrom` and writes checkpoints.
   */
  dataParallel?: DataParallel;
  /** parameter-server training (ps-worker.ts): the servers update the weights in place of `optimizer` */
  remoteUpdate?: RemoteUpdate;
  log?: (line: string) => void;
  onEvent?: (event: TrainEvent) => void;
  /** draw a progress bar on this terminal stream */
  progress?: NodeJS.WriteStream;
  /** stop after the current step, write a checkpoint and return (e.g. on Ctrl-C or a cancelled task) */
  signal?: AbortSignal;
}

export interface EpochRecord {
  epoch: number;
  step: number;
  trainLoss: number;
  secPerBatch: number;
  validation?: BinaryMetrics;
  /** false for the unfinished epoch of a run stopped by `maxSteps` with `validateAtStop` */
  complete?: boolean;
}

export interface TrainResult {
  globalStep: number;
  history: EpochRecord[];
  totalSeconds: number;
  /** images/s after the first two iterations */
  imagesPerSec?: number;
  lastCheckpoint?: string;
  /** true when the run stopped (maxSteps or the signal) inside an epoch */
  stoppedEarly: boolean;
  /** true when the signal stopped the run */
  interrupted: boolean;
  /** data parallelism: steps, ms and values of the gradient allreduces */
  communication?: CommunicationTotals;
  /** data parallelism: sha256 of the final weights (the same on every rank) */
  weightsHash?: string;
  /** parameter-server training: each server's counters (pushes, applied, dropped, staleness) */
  parameterServers?: ParameterServerStats[];
}

interface RunState {
  globalStep: number;
  firstEpoch: number;
  skipBatches: number;
}

/** Train any `TrainableModel` on any `BatchSource` (binary classification on two logits). */
export async function trainLoop(opts: TrainLoopOptions): Promise<TrainResult> {
  const dp = opts.dataParallel;
  const remote = opts.remoteUpdate;
  const rank = opts.rank ?? dp?.rank ?? remote?.rank ?? 0;
  const bar = opts.progress ? new ProgressBar(opts.progress) : undefined;
  const print = opts.log ?? ((line: string) => console.log(line));
  const log = (line: string) => {
    bar?.clear();
    print(line);
  };
  const emit = (event: TrainEvent) => opts.onEvent?.(event);
  const lossFn = opts.loss ?? weightedSoftmaxCrossEntropy;
  const optimizer = opts.optimizer ?? new Adam({ learningRate: 1e-3 });
  const named = namedVariablesOf(opts.model);
  const variables = named.map((n) => n.variable);
  const displayInterval = Math.max(1, opts.displayInterval ?? 10);
  const train = dp ? await dp.prepare(opts.train, optimizer, log) : remote ? await remote.prepare(opts.train, log) : opts.train;
  const stepsPerEpoch = Math.floor(train.numEvents / train.batchSize);
  // the seed's announcement; true as long as the source yields full batches only (the HEP training's does)
  const allSteps = stepsPerEpoch * opts.epochs;
  const lastStep = (opts.maxSteps ?? 0) > 0 ? Math.min(opts.maxSteps!, allSteps) : allSteps;
  log(`Stopping after ${lastStep} global steps`);
  const imagesPerIteration = opts.imagesPerIteration ?? train.batchSize;

  let state = await restoreState((dp || remote) && rank !== 0 ? { ...opts, resumeFrom: undefined } : opts, named, optimizer, stepsPerEpoch, log);
  if (dp) state = await dp.synchronize(named, optimizer, state);
  if (remote) state = await remote.synchronize(named, optimizer, state);
  const gradients = await gradientComputer(opts, lossFn, variables, rank, log);
  try {
    return await runEpochs();
  } finally {
    await gradients.dispose(); // the worker threads would otherwise keep the process alive
  }

  async function runEpochs(): Promise<TrainResult> {
    const history: EpochRecord[] = [];
    const iterationSeconds: number[] = [];
    let lastCheckpoint: string | undefined;
    let stoppedEarly = false;
    const runStart = performance.now();
    emit({ type: 'start', rank, model: opts.model.name, epochs: opts.epochs, stepsPerEpoch, startStep: state.globalStep, startEpoch: state.firstEpoch });
    log(`Rank ${rank} : starting training using ADAM optimizer`);

    const checkpoint = async (epoch: number, stepInEpoch: number, epochComplete: boolean, metrics?: Record<string, number>) => {
      if (!opts.checkpoint || rank !== 0) return;
      await remote?.beforeCheckpoint(variables, optimizer);
      const saved = await saveCheckpoint({
        dir: opts.checkpoint.dir,
        model: opts.model.name,
        variables: named,
        step: state.globalStep,
        epoch,
        stepInEpoch,
        epochComplete,
        optimizer: { state: await optimizer.getState(variables), beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon },
        configHash: opts.checkpoint.configHash,
        metrics,
      });
      lastCheckpoint = saved.manifestPath;
      log(`Rank ${rank} : saved checkpoint ${saved.manifestPath} (global step ${state.globalStep})`);
      emit({ type: 'checkpoint', rank, epoch, step: state.globalStep, path: saved.manifestPath });
    };
    const reachedMaxSteps = () => (opts.maxSteps ?? 0) > 0 && state.globalStep >= opts.maxSteps!;
    const interrupted = () => opts.signal?.aborted ?? false;
    const v2Lines = (opts.validationInterval ?? 0) > 0;
    // v2's TRAINING REPORT averages over the steps since the previous report
    let window = { loss: 0, learningRate: 0, seconds: 0, batches: 0 };
    const evaluationLines = (kind: 'report' | 'epoch summary', epoch: number, v: BinaryMetrics) => {
      const ts = timestamp();
      const prefix = `${ts} EVALUATION ${kind.toUpperCase()}: step ${state.globalStep} (${lastStep})`;
      log(`${prefix}, average loss ${formatF(v.loss, 6)}`);
      log(`${prefix}, average accu ${formatF(v.accuracy, 6)}`);
      log(`${prefix}, average auc ${formatF(v.auc, 6)}`);
      emit({ type: 'evaluation', rank, kind, epoch, step: state.globalStep, loss: v.loss, accuracy: v.accuracy, auc: v.auc, events: v.events });
    };

    for (let epoch = state.firstEpoch; epoch < opts.epochs && !reachedMaxSteps() && !interrupted(); epoch++) {
      train.startEpoch(epoch);
      let stepInEpoch = 0;
      for (; state.skipBatches > 0; state.skipBatches--, stepInEpoch++) {
        const skipped = await train.next(); // batches the checkpoint had already trained on
        if (!skipped) break;
        train.recycle?.(skipped);
      }
      let lossSum = 0;
      let computeSeconds = 0;
      let batches = 0;
      let lastSavedStep = -1;
      const maxSteps = opts.maxSteps ?? 0;
      const barTotal = maxSteps > 0 ? Math.min(stepsPerEpoch, stepInEpoch + Math.max(0, maxSteps - state.globalStep)) : stepsPerEpoch;
      let exhausted = false;
      while (!reachedMaxSteps() && !interrupted()) {
        const iterationStart = performance.now();
        const batch = await train.next();
        if (!batch) {
          exhausted = true;
          break;
        }
        const computeStart = performance.now();
        const learningRate = optimizer.currentLearningRate();
        const batchEvents = batch.label.length;
        const stepBefore = state.globalStep;
        const { loss, ...parallel } = await trainStep(opts, gradients, optimizer, variables, batch, state.globalStep);
        train.recycle?.(batch); // its tensors are disposed by now
        const now = performance.now();
        computeSeconds += (now - computeStart) / 1000;
        window = { loss: window.loss + loss, learningRate: window.learningRate + learningRate, seconds: window.seconds + (now - computeStart) / 1000, batches: window.batches + 1 };
        iterationSeconds.push((now - iterationStart) / 1000);
        lossSum += loss;
        batches++;
        stepInEpoch++;
        state.globalStep = optimizer.step;
        const secPerBatch = computeSeconds / batches;
        const imagesPerSec = batchEvents / iterationSeconds[iterationSeconds.length - 1];
        const iteration = dp || remote ? { iterationMs: iterationSeconds[iterationSeconds.length - 1] * 1000 } : {};
        emit({ type: 'step', rank, step: state.globalStep, epoch, loss, learningRate, secPerBatch, imagesPerSec, ...parallel, ...iteration });
        if (state.globalStep % displayInterval === 0) {
          log(`${timestamp()} REPORT rank ${rank} global step ${state.globalStep}., average training loss ${formatG(lossSum / batches)} (${formatF(secPerBatch, 3)} sec/batch)`);
          if (v2Lines && rank === 0) {
            const w = window;
            log(`${timestamp()} TRAINING REPORT: step ${state.globalStep} (${lastStep}), average loss ${formatF(w.loss / w.batches, 6)} (${formatF(w.seconds / w.batches, 3)} sec/batch), average learning rate ${formatF(w.learningRate / w.batches, 6)}`);
          }
          window = { loss: 0, learningRate: 0, seconds: 0, batches: 0 };
        }
        bar?.update(stepInEpoch, barTotal, {
          epoch: String(epoch + 1),
          loss: (lossSum / batches).toFixed(4),
          'img/s': imagesPerSec.toFixed(1),
        });
        const interval = opts.checkpoint?.interval ?? 0;
        // crossed, not hit: with asynchronous parameter servers the global step jumps by the other workers' pushes
        if (interval > 0 && Math.floor(state.globalStep / interval) > Math.floor(stepBefore / interval)) {
          await checkpoint(epoch, stepInEpoch, false);
          lastSavedStep = state.globalStep;
        }
        const every = opts.validationInterval ?? 0;
        if (every > 0 && opts.validation && Math.floor(state.globalStep / every) > Math.floor(stepBefore / every)) {
          bar?.clear();
          evaluationLines('report', epoch, (await validate(opts, opts.validation, epoch, dp, opts.validationMaxBatches)).capped);
        }
      }
      const epochFinished = exhausted || stepInEpoch >= stepsPerEpoch;
      const trainLoss = batches > 0 ? lossSum / batches : NaN;
      const secPerBatch = batches > 0 ? computeSeconds / batches : 0;
      if (!epochFinished) {
        // stopped inside the epoch (maxSteps or the signal): as the seed, no COMPLETED line and no epoch validation
        stoppedEarly = true;
        if (interrupted()) log(`Rank ${rank} : interrupted at global step ${state.globalStep} (epoch ${epoch + 1}, batch ${stepInEpoch})`);
        const metrics: Record<string, number> = { train_loss: trainLoss };
        if (opts.validateAtStop && !interrupted() && opts.validation && batches > 0) {
          const v = (await validate(opts, opts.validation, epoch, dp)).full;
          log(`${timestamp()} STOPPED epoch ${epoch + 1} at global step ${state.globalStep} (batch ${stepInEpoch} of ${stepsPerEpoch}), validation loss ${formatG(v.loss)}, accu ${formatG(v.accuracy)}, auc ${formatG(v.auc)}`);
          emit({ type: 'validation', rank, epoch, step: state.globalStep, loss: v.loss, accuracy: v.accuracy, auc: v.auc, events: v.events, partial: true });
          history.push({ epoch, step: state.globalStep, trainLoss, secPerBatch, validation: v, complete: false });
          Object.assign(metrics, { validation_loss: v.loss, validation_accuracy: v.accuracy, validation_auc: v.auc });
        }
        if (lastSavedStep !== state.globalStep && batches > 0) await checkpoint(epoch, stepInEpoch, false, metrics);
        break;
      }
      log(`${timestamp()} COMPLETED rank ${rank} epoch ${epoch + 1}, average training loss ${formatG(trainLoss)} (${formatF(secPerBatch, 3)} sec/batch)`);
      emit({ type: 'epoch', rank, epoch, step: state.globalStep, trainLoss, secPerBatch });
      const record: EpochRecord = { epoch, step: state.globalStep, trainLoss, secPerBatch };
      if (opts.validation) {
        const both = await validate(opts, opts.validation, epoch, dp, v2Lines ? opts.validationMaxBatches : undefined, true);
        record.validation = both.full;
        const v = record.validation;
        log(`${timestamp()} COMPLETED epoch ${epoch + 1}, average validation loss ${formatG(v.loss)}`);
        log(`${timestamp()} COMPLETED epoch ${epoch + 1}, average validation accu ${formatG(v.accuracy)}`);
        log(`${timestamp()} COMPLETED epoch ${epoch + 1}, average validation auc ${formatG(v.auc)}`);
        emit({ type: 'validation', rank, epoch, step: state.globalStep, loss: v.loss, accuracy: v.accuracy, auc: v.auc, events: v.events });
        if (v2Lines) evaluationLines('epoch summary', epoch, both.capped);
      }
      history.push(record);
      if (lastSavedStep !== state.globalStep && batches > 0) {
        const metrics: Record<string, number> = { train_loss: trainLoss };
        if (record.validation) {
          metrics.validation_loss = record.validation.loss;
          metrics.validation_accuracy = record.validation.accuracy;
          metrics.validation_auc = record.validation.auc;
        }
        await checkpoint(epoch, stepsPerEpoch, true, metrics);
      }
    }

    const totalSeconds = (performance.now() - runStart) / 1000;
    for (const line of throughputLines(iterationSeconds, imagesPerIteration)) log(line);
    // an interrupted run did not finish: say so, with where it stopped (its checkpoint continues from there)
    log(interrupted() ? `INTERRUPTED Training at global step ${state.globalStep}. Total time ${formatG(totalSeconds)}` : `FINISHED Training. Total time ${formatG(totalSeconds)}`);
    const imagesPerSec = steadyThroughput(iterationSeconds, imagesPerIteration);
    emit({ type: 'done', rank, step: state.globalStep, epochs: history.length, totalSeconds, imagesPerSec });
    const parallel = dp ?? remote;
    if (!parallel) return { globalStep: state.globalStep, history, totalSeconds, imagesPerSec, lastCheckpoint, stoppedEarly, interrupted: interrupted() };
    const parameterServers = remote ? await remote.finish(variables) : undefined;
    const weightsHash = await weightsDigest(variables);
    log(`Rank ${rank} : final weights sha256 ${weightsHash} (global step ${state.globalStep})`);
    return { globalStep: state.globalStep, history, totalSeconds, imagesPerSec, lastCheckpoint, stoppedEarly, interrupted: interrupted(), communication: { ...parallel.totals }, weightsHash, parameterServers };
  }
}

/** True when every value of every tensor is finite (one small reduction per tensor). */
async function allFinite(tensors: tf.Tensor[]): Promise<boolean> {
  const flags = tf.tidy(() => tf.min(tf.stack(tensors.map((t) => tf.cast(tf.all(tf.isFinite(t)), 'float32')))));
  const ok = (await flags.data())[0] === 1;
  flags.dispose();
  return ok;
}

/** Training diverged (or met a non-finite input): the run stops with this error. */
export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

/** sha256 over the bytes of every variable, in order. */
export async function weightsDigest(variables: tf.Variable[]): Promise<string> {
  const hash = createHash('sha256');
  for (const v of variables) {
    const data = (await v.data()) as Float32Array;
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex').slice(0, 16);
}

type EventBatch = NonNullable<Awaited<ReturnType<BatchSource['next']>>>;

/** Loss value and gradients (keyed by variable name) of one batch. */
interface GradientComputer {
  compute(images: tf.Tensor4D, labels: tf.Tensor1D, weights: tf.Tensor1D): Promise<{ value: tf.Scalar; grads: tf.NamedTensorMap }>;
  dispose(): Promise<void>;
}

/**
 * The HEP CNN with the standard loss: data-parallel over threads, in passes that fit the wasm
 * heap. Anything else: tf.variableGrads over the whole batch on this thread.
 */
async function gradientComputer(
  opts: TrainLoopOptions,
  lossFn: LossFunction,
  variables: tf.Variable[],
  rank: number,
  log: (line: string) => void,
): Promise<GradientComputer> {
  const model = opts.model;
  if (model instanceof HepCnn && !opts.loss) {
    const threads = gradientThreads(opts.threads, opts.train.batchSize);
    const parallel = await DataParallelGradients.create(model, { threads });
    const passes = parallel.imagesPerPass < Math.ceil(opts.train.batchSize / threads) ? `, passes of at most ${parallel.imagesPerPass} images` : '';
    log(`Rank ${rank} : computing gradients on ${parallel.threads} thread${parallel.threads === 1 ? '' : 's'}${passes}`);
    return { compute: (x, y, w) => parallel.compute(x, y, w), dispose: () => parallel.dispose() };
  }
  if (opts.threads !== undefined) gradientThreads(opts.threads, 1); // still reject a bad value
  return {
    compute: async (x, y, w) => tf.variableGrads(() => lossFn(model.logits(x, true), y, w), variables),
    dispose: async () => undefined,
  };
}

async function restoreState(
  opts: TrainLoopOptions,
  named: NamedVariable[],
  optimizer: Adam,
  stepsPerEpoch: number,
  log: (line: string) => void,
): Promise<RunState> {
  if (!opts.resumeFrom) return { globalStep: optimizer.step, firstEpoch: 0, skipBatches: 0 };
  const loaded = await loadCheckpoint(opts.resumeFrom, named);
  const m = loaded.manifest;
  if (opts.checkpoint?.configHash && m.configHash && m.configHash !== opts.checkpoint.configHash) {
    log(`Warning: checkpoint ${opts.resumeFrom} was written with a different config (hash ${m.configHash}, now ${opts.checkpoint.configHash})`);
  }
  if (loaded.optimizerState) {
    optimizer.setState(named.map((n) => n.variable), loaded.optimizerState);
  } else {
    optimizer.step = m.step;
  }
  const epochDone = m.epochComplete || m.stepInEpoch >= stepsPerEpoch;
  log(`Restoring model ${opts.resumeFrom} (global step ${m.step}, epoch ${m.epoch + 1}${epochDone ? ' complete' : `, batch ${m.stepInEpoch}`})`);
  return {
    globalStep: m.step,
    firstEpoch: epochDone ? m.epoch + 1 : m.epoch,
    skipBatches: epochDone ? 0 : m.stepInEpoch,
  };
}

async function trainStep(
  opts: TrainLoopOptions,
  gradientsOf: GradientComputer,
  optimizer: Adam,
  variables: tf.Variable[],
  batch: EventBatch,
  step: number,
): Promise<{ loss: number; rankLoss?: number; commMs?: number; size?: number; staleness?: number }> {
  const images = batchImages(batch, opts.model.inputLayout);
  const labels = tf.tensor1d(batch.label, 'int32');
  const weights = opts.useWeights ? tf.tensor1d(batch.normweight) : tf.ones([batch.label.length]) as tf.Tensor1D;
  let result: { value: tf.Scalar; grads: tf.NamedTensorMap };
  try {
    result = await gradientsOf.compute(images, labels, weights);
  } finally {
    images.dispose();
    labels.dispose();
    weights.dispose();
  }
  const { value, grads } = result;
  let gradients = variables.map((v) => {
    const g = grads[v.name];
    if (!g) throw new Error(`model ${opts.model.name}: no gradient for variable ${v.name} (is it used by logits()?)`);
    return g;
  });
  if (opts.reduceGradients) {
    const reduced = await opts.reduceGradients(gradients, step);
    if (reduced !== gradients) tf.dispose(gradients);
    gradients = reduced;
  }
  if (opts.remoteUpdate) return opts.remoteUpdate.applyGradients(variables, gradients, value, step);
  if (opts.dataParallel) return dataParallelUpdate(opts.dataParallel, optimizer, variables, gradients, value, step);
  const loss = (await value.data())[0];
  value.dispose();
  const finiteGradients = Number.isFinite(loss) && (await allFinite(gradients));
  if (!finiteGradients) {
    tf.dispose(gradients);
    const what = Number.isFinite(loss) ? `training gradients became non-finite (loss ${loss})` : `training loss became ${loss}`;
    throw new NonFiniteLossError(`${what} at global step ${step + 1}; stopped before applying it (no checkpoint written): lower the learning rate or check the inputs`);
  }
  optimizer.applyGradients(variables, gradients);
  tf.dispose(gradients);
  return { loss };
}

/** Average gradients (and the loss) over the ranks, then update: every rank applies the same update. */
async function dataParallelUpdate(
  dp: DataParallel,
  optimizer: Adam,
  variables: tf.Variable[],
  gradients: tf.Tensor[],
  value: tf.Scalar,
  step: number,
): Promise<{ loss: number; rankLoss: number; commMs: number; size: number }> {
  const rankLoss = (await value.data())[0];
  value.dispose();
  let averaged: Awaited<ReturnType<DataParallel['averageGradients']>>;
  try {
    averaged = await dp.averageGradients(gradients, rankLoss);
  } catch (err) {
    tf.dispose(gradients);
    throw err;
  }
  if (averaged.gradients !== gradients) tf.dispose(gradients);
  // every rank holds the same mean: a non-finite one stops them all at the same step, before the update
  if (!Number.isFinite(averaged.loss) || !(await allFinite(averaged.gradients))) {
    tf.dispose(averaged.gradients);
    throw new NonFiniteLossError(`training loss averaged over ${dp.size} ranks became ${averaged.loss}${Number.isFinite(averaged.loss) ? ' with non-finite gradients' : ''} at global step ${step + 1} (rank ${dp.rank}: ${rankLoss}); stopped before applying it (no checkpoint written): lower the learning rate or check the inputs`);
  }
  optimizer.applyGradients(variables, averaged.gradients);
  tf.dispose(averaged.gradients);
  return { loss: averaged.loss, rankLoss, commMs: averaged.commMs, size: dp.size };
}

/**
 * One pass over the validation source (unshuffled, so every pass sees the same events in the same
 * order). `full` covers the whole source, `capped` its first `maxBatches` batches (the seed v2's
 * validation_max_steps); with a cap, only those batches are read unless `full` is needed too.
 */
async function validate(
  opts: TrainLoopOptions,
  source: BatchSource,
  epoch: number,
  dp: DataParallel | undefined,
  maxBatches?: number,
  needFull = maxBatches === undefined,
): Promise<{ full: BinaryMetrics; capped: BinaryMetrics }> {
  source.startEpoch(epoch);
  const cap = maxBatches !== undefined && maxBatches > 0 ? maxBatches : undefined;
  const local = await collectPredictions(opts.model, source, { maxBatches: needFull ? undefined : cap });
  const metricsOf = async (p: Predictions) => {
    const all = dp ? await dp.gatherPredictions(p) : p;
    return binaryMetrics(all, opts.useWeights ? all.normweight : undefined);
  };
  const full = await metricsOf(local);
  // the same number of gathers on every rank, whatever each rank holds
  if (cap === undefined || !needFull) return { full, capped: full };
  return { full, capped: await metricsOf(firstEvents(local, cap * source.batchSize)) };
}

function firstEvents(p: Predictions, n: number): Predictions {
  return {
    label: p.label.subarray(0, n),
    score: p.score.subarray(0, n),
    crossEntropy: p.crossEntropy.subarray(0, n),
    weight: p.weight.subarray(0, n),
    normweight: p.normweight.subarray(0, n),
    psr: p.psr.subarray(0, n),
  };
}
