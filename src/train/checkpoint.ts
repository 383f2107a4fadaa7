import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { firstNonFinite, readArrays, writeArrays } from '../data';
import type { AdamState } from './adam';

export const CHECKPOINT_FORMAT = 'hpcdl-checkpoint';

export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

/** The JSON manifest written next to each HDF5 weight file. */
export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: 1;
  model: string;
  /** global step (updates applied) when the checkpoint was taken */
  step: number;
  /** epoch being trained (0-based) and the batches of it already done */
  epoch: number;
  stepInEpoch: number;
  /** true when `epoch` was finished: a restart begins epoch + 1 */
  epochComplete: boolean;
  configHash?: string;
  /** the HDF5 file, relative to the manifest */
  weightsFile: string;
  variables: { name: string; key: string; shape: number[] }[];
  optimizer?: { type: 'ADAM'; step: number; beta1: number; beta2: number; epsilon: number; mKeys: string[]; vKeys: string[] };
  metrics?: Record<string, number>;
  createdAt: string;
}

export interface SavedCheckpoint {
  manifestPath: string;
  weightsPath: string;
  manifest: CheckpointManifest;
}

/** Stable short hash of a JSON value (keys sorted), e.g. of the config a run used. */
export function hashJson(value: unknown): string {
  const canonical = JSON.stringify(value, (_key, v) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : v,
  );
  return crypto.createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

/**
 * Checkpoint names of a model's variables: `namedWeights()` when it has one,
 * else their position (`var_000`, ...), since `variables` is in a stable
 * order while tf variable names differ between instances.
 */
export function namedVariablesOf(model: { variables: tf.Variable[]; namedWeights?: () => NamedVariable[] }): NamedVariable[] {
  const named = model.namedWeights
    ? model.namedWeights()
    : model.variables.map((variable, i) => ({ name: `var_${String(i).padStart(3, '0')}`, variable }));
  const seen = new Set<string>();
  for (const { name } of named) {
    if (seen.has(name)) throw new Error(`model has two variables named "${name}"; checkpoint names must be unique`);
    seen.add(name);
  }
  return named;
}

/** HDF5 dataset names: no '/', so every array sits at the file's root. */
function datasetKey(prefix: string, index: number, name: string): string {
  return `${prefix}_${String(index).padStart(3, '0')}_${name.replace(/[^A-Za-z0-9_.-]+/g, '_')}`;
}

function checkpointBase(step: number): string {
  return `ckpt-${String(step).padStart(8, '0')}`;
}

export interface SaveCheckpointOptions {
  dir: string;
  model: string;
  variables: NamedVariable[];
  step: number;
  epoch: number;
  stepInEpoch: number;
  epochComplete: boolean;
  optimizer?: { state: AdamState; beta1: number; beta2: number; epsilon: number };
  configHash?: string;
  metrics?: Record<string, number>;
}

/** Write `<dir>/ckpt-<step>.h5` then its manifest (the manifest appears only once the weights are complete). */
export async function saveCheckpoint(options: SaveCheckpointOptions): Promise<SavedCheckpoint> {
  fs.mkdirSync(options.dir, { recursive: true });
  const base = checkpointBase(options.step);
  const weightsPath = path.join(options.dir, `${base}.h5`);
  const manifestPath = path.join(options.dir, `${base}.json`);
  const arrays: Record<string, { data: Float32Array; shape: number[] }> = {};
  const variables: CheckpointManifest['variables'] = [];
  const values = await Promise.all(options.variables.map(({ variable }) => variable.data() as Promise<Float32Array>));
  options.variables.forEach(({ name, variable }, i) => {
    const key = datasetKey('w', i, name);
    arrays[key] = { data: Float32Array.from(values[i]), shape: variable.shape.slice() };
    variables.push({ name, key, shape: variable.shape.slice() });
  });
  let optimizer: CheckpointManifest['optimizer'];
  if (options.optimizer) {
    const { state, beta1, beta2, epsilon } = options.optimizer;
    const mKeys: string[] = [];
    const vKeys: string[] = [];
    options.variables.forEach(({ name, variable }, i) => {
      mKeys.push(datasetKey('adam_m', i, name));
      vKeys.push(datasetKey('adam_v', i, name));
      arrays[mKeys[i]] = { data: state.m[i], shape: variable.shape.slice() };
      arrays[vKeys[i]] = { data: state.v[i], shape: variable.shape.slice() };
    });
    optimizer = { type: 'ADAM', step: state.step, beta1, beta2, epsilon, mKeys, vKeys };
  }
  // a diverged model is never saved: a restart from it could only go on producing NaN
  for (const [key, { data }] of Object.entries(arrays)) {
    const bad = firstNonFinite(data);
    if (bad >= 0) throw new Error(`refusing to write checkpoint ${weightsPath}: ${key}[${bad}] is ${data[bad]} (the model diverged)`);
  }
  await writeArrays(weightsPath, arrays, { format: CHECKPOINT_FORMAT, step: options.step, model: options.model });
  const manifest: CheckpointManifest = {
    format: CHECKPOINT_FORMAT,
    version: 1,
    model: options.model,
    step: options.step,
    epoch: options.epoch,
    stepInEpoch: options.stepInEpoch,
    epochComplete: options.epochComplete,
    configHash: options.configHash,
    weightsFile: path.basename(weightsPath),
    variables,
    optimizer,
    metrics: options.metrics,
    createdAt: new Date().toISOString(),
  };
  const tmpManifest = `${manifestPath}.tmp-${process.pid}`;
  fs.writeFileSync(tmpManifest, JSON.stringify(manifest, null, 2) + '\n');
  fs.renameSync(tmpManifest, manifestPath);
  return { manifestPath, weightsPath, manifest };
}

/** Manifests in a models directory, oldest step first. */
export function listCheckpoints(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => /^ckpt-\d+\.json$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
}

/** The newest manifest in `dir`, or undefined when there is none. */
export function latestCheckpoint(dir: string): string | undefined {
  const all = listCheckpoints(dir);
  return all[all.length - 1];
}

/** `p` is a manifest file, or a directory whose newest manifest is meant. */
export function resolveCheckpoint(p: string): string {
  if (!fs.existsSync(p)) throw new Error(`checkpoint ${p} does not exist`);
  if (fs.statSync(p).isDirectory()) {
    const nested = path.join(p, 'models');
    const found = latestCheckpoint(p) ?? latestCheckpoint(nested);
    if (!found) throw new Error(`checkpoint directory ${p} holds no ckpt-<step>.json manifest`);
    return found;
  }
  return p;
}

export function readManifest(manifestPath: string): CheckpointManifest {
  let manifest: CheckpointManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));
  } catch (err) {
    throw new Error(`checkpoint ${manifestPath}: not a readable JSON manifest (${(err as Error).message})`);
  }
  if (manifest?.format !== CHECKPOINT_FORMAT || !Array.isArray(manifest.variables) || typeof manifest.step !== 'number') {
    throw new Error(`checkpoint ${manifestPath}: not an hpcdl checkpoint manifest (format must be "${CHECKPOINT_FORMAT}")`);
  }
  return manifest;
}

export interface LoadedCheckpoint {
  manifest: CheckpointManifest;
  manifestPath: string;
  optimizerState?: AdamState;
}

/**
 * Assign the checkpoint's weights to `variables` (matched by name, shapes
 * checked) and return the optimizer state stored with them.
 */
export async function loadCheckpoint(manifestPath: string, variables: NamedVariable[]): Promise<LoadedCheckpoint> {
  const manifest = readManifest(manifestPath);
  const weightsPath = path.join(path.dirname(manifestPath), manifest.weightsFile);
  if (!fs.existsSync(weightsPath)) throw new Error(`checkpoint ${manifestPath}: weight file ${weightsPath} is missing`);
  const arrays = await readArrays(weightsPath);
  const byName = new Map(manifest.variables.map((v) => [v.name, v]));
  const missing = variables.filter(({ name }) => !byName.has(name)).map(({ name }) => name);
  if (missing.length > 0) {
    throw new Error(`checkpoint ${manifestPath} has no weights for ${missing.join(', ')} (it holds ${[...byName.keys()].join(', ')})`);
  }
  const read = (key: string, name: string, shape: number[]): Float32Array => {
    const array = arrays[key];
    if (!array) throw new Error(`checkpoint ${weightsPath}: dataset ${key} (${name}) is missing`);
    if (array.shape.join('x') !== shape.join('x')) {
      throw new Error(`checkpoint ${weightsPath}: ${name} has shape [${array.shape}], the model expects [${shape}]`);
    }
    return array.data instanceof Float32Array ? array.data : Float32Array.from(array.data as ArrayLike<number>);
  };
  const indexOf = new Map(manifest.variables.map((v, i) => [v.name, i]));
  for (const { name, variable } of variables) {
    const entry = byName.get(name)!;
    const data = read(entry.key, name, variable.shape);
    tf.tidy(() => variable.assign(tf.tensor(data, variable.shape, 'float32')));
  }
  let optimizerState: AdamState | undefined;
  if (manifest.optimizer) {
    const opt = manifest.optimizer;
    optimizerState = {
      step: opt.step,
      m: variables.map(({ name, variable }) => read(opt.mKeys[indexOf.get(name)!], `${name} (adam m)`, variable.shape)),
      v: variables.map(({ name, variable }) => read(opt.vKeys[indexOf.get(name)!], `${name} (adam v)`, variable.shape)),
    };
  }
  return { manifest, manifestPath, optimizerState };
}
