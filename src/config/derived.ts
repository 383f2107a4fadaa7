import { ConfigError } from './errors';
import type { HepConfig, LearningRate } from './types';
import { configSource } from './validate';

export interface DerivedValues {
  /** training batch each worker processes per step */
  perNodeBatch: number;
  /** validation batch each worker processes per step */
  validationPerNodeBatch: number;
  /** v2: trainsamples // (perNodeBatch × workers) */
  stepsPerEpoch: number;
  /** v2: stepsPerEpoch × num_epochs (what hpcdl stops at) */
  lastStep: number;
  /** v1: int(trainsamples × num_epochs / (perNodeBatch × workers)) — can exceed lastStep */
  lastStepV1: number;
  /** checkpoint_interval, or one checkpoint per epoch */
  checkpointInterval: number;
}

/**
 * The seed's derived quantities for `workers` data-parallel workers
 * (HCB v1 / v2 training scripts). Throws when the batch per worker would be 0
 * or when the hot spares leave no worker.
 */
export function derivedValues(config: HepConfig, workers: number): DerivedValues {
  const source = configSource(config);
  if (!Number.isInteger(workers) || workers < 1) {
    throw new RangeError(`derivedValues: workers must be a positive integer, got ${workers}`);
  }
  if (workers > 1 && config.num_hot_spares >= workers) {
    throw ConfigError.single(source, 'num_hot_spares', `must be smaller than the number of workers (${workers}), got ${config.num_hot_spares}`);
  }
  const perNodeBatch = perWorker(config.train_batch_size, config.batch_size_per_node, workers);
  const validationPerNodeBatch = perWorker(config.validation_batch_size, config.batch_size_per_node, workers);
  if (perNodeBatch < 1 || validationPerNodeBatch < 1) {
    const key = perNodeBatch < 1 ? 'train_batch_size' : 'validation_batch_size';
    throw ConfigError.single(
      source,
      key,
      `is a global batch (batch_size_per_node false) and must be at least the number of workers (${workers}), got ${config[key]}`,
    );
  }
  const globalBatch = perNodeBatch * workers;
  const stepsPerEpoch = Math.floor(config.trainsamples / globalBatch);
  if (stepsPerEpoch < 1) {
    throw ConfigError.single(source, 'trainsamples', `must be at least one global batch (${globalBatch} events), got ${config.trainsamples}`);
  }
  return {
    perNodeBatch,
    validationPerNodeBatch,
    stepsPerEpoch,
    lastStep: stepsPerEpoch * config.num_epochs,
    lastStepV1: Math.floor((config.trainsamples * config.num_epochs) / globalBatch),
    checkpointInterval: config.checkpoint_interval ?? stepsPerEpoch,
  };
}

function perWorker(batch: number, perNode: boolean, workers: number): number {
  return perNode ? batch : Math.floor(batch / workers);
}

/**
 * The learning rate at global step `step`, as the seed v2d computes it:
 * boundaries = sorted step keys, rates = [r0] + rates;
 * piecewise: TF `piecewise_constant` (rates[i] while step ≤ boundaries[i]);
 * polynomial: TF `polynomial_decay(rates[0], step, boundaries[-1], rates[-1], power)`.
 */
export function learningRateAt(lr: LearningRate, step: number): number {
  if (typeof lr === 'number') return lr;
  if (!Number.isFinite(step) || step < 0) throw new RangeError(`learningRateAt: step must be ≥ 0, got ${step}`);
  const schedule = Object.entries(lr.learning_rate_params)
    .map(([key, rate]) => ({ boundary: Number(key), rate }))
    .sort((a, b) => a.boundary - b.boundary);
  const boundaries = schedule.map((s) => s.boundary);
  const rates = [schedule[0].rate, ...schedule.map((s) => s.rate)];
  if (lr.mode === 'piecewise') return piecewiseConstant(step, boundaries, rates);
  return polynomialDecay(rates[0], step, boundaries[boundaries.length - 1], rates[rates.length - 1], lr.power ?? 1);
}

function piecewiseConstant(step: number, boundaries: number[], values: number[]): number {
  for (let i = 0; i < boundaries.length; i++) {
    if (step <= boundaries[i]) return values[i];
  }
  return values[values.length - 1];
}

function polynomialDecay(start: number, step: number, decaySteps: number, end: number, power: number): number {
  const clamped = Math.min(step, decaySteps);
  return (start - end) * Math.pow(1 - clamped / decaySteps, power) + end;
}
