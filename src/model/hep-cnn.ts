import * as tf from '@tensorflow/tfjs-core';
import '../backend/core-gradients';
import type { HepConfig } from '../config/types';
import type { TrainableModel } from './types';
import { convBiasRelu } from './conv-block';
import { dropoutMask, heNormalValues, Rng } from './random';

export interface HepCnnOptions {
  /** initialisation and dropout seed (default: config.seed, else 12345) */
  seed?: number;
  /** bf16: convolutions in bf16 on the onednn backend (fp32 weights, gradients and the rest) */
  precision?: 'fp32' | 'fp16' | 'bf16';
}

export interface NamedWeight {
  /** stable name used by checkpoints, e.g. `conv0/kernel` */
  name: string;
  variable: tf.Variable;
}

/** One row of the layer summary. */
export interface LayerSummary {
  name: string;
  outputShape: number[];
  params: number;
}

/** eps of the seed's per-element batch norm */
const BN_EPSILON = 1e-4;
const DEFAULT_SEED = 12345;
let modelCounter = 0;

interface ConvBlock {
  kernel: tf.Variable;
  bias?: tf.Variable;
  bn?: { mean: tf.Variable; variance: tf.Variable; gamma: tf.Variable; beta: tf.Variable };
}

/**
 * The seed's HEP CNN (NERSC hep_cnn_benchmark v1 `build_cnn_model`), computed in NHWC:
 * num_layers × (conv k×k, stride 1 → bias or per-element BN → ReLU → maxpool 2×2/2 → dropout),
 * then either the `scaling_improvements` head (conv + bias + ReLU → global average pool → FC 2)
 * or flatten → FC num_fc_units + ReLU → dropout → FC 2.
 * Gradients flow to the variables only: the gradient with respect to the input images is not
 * computed (it would be zero, for the first conv+bias+ReLU block).
 */
export class HepCnn implements TrainableModel {
  readonly name: string;
  readonly inputLayout: 'NCHW' | 'NHWC';
  /** [H, W, C] of one image as the model computes it (NHWC) */
  readonly imageShapeNHWC: [number, number, number];
  readonly variables: tf.Variable[];
  private readonly named: NamedWeight[] = [];
  private readonly blocks: ConvBlock[] = [];
  private headConv?: ConvBlock;
  private readonly fc: { kernel: tf.Variable; bias: tf.Variable }[] = [];
  private readonly dropoutRng: Rng;
  private readonly keepProb: number;
  private readonly padding: 'same' | 'valid';
  private readonly summaryRows: LayerSummary[] = [];
  private readonly prefix: string;
  /** [H, W, C] after the last conv block */
  private bodyOutput: [number, number, number] = [0, 0, 0];
  private disposed = false;

  constructor(readonly config: HepConfig, seed: number, readonly precision: 'fp32' | 'bf16' = 'fp32') {
    this.inputLayout = config.conv_params.data_format;
    this.imageShapeNHWC = imageShapeNHWC(config);
    this.keepProb = config.dropout_p;
    this.padding = config.conv_params.padding === 'SAME' ? 'same' : 'valid';
    this.name = `hep_cnn_${this.imageShapeNHWC[0]}`;
    this.prefix = `hpcdl_model${modelCounter++}`;
    const initRng = new Rng(seed);
    this.dropoutRng = new Rng(seed ^ 0x5bd1e995);
    this.buildBody(initRng);
    this.buildHead(initRng);
    this.variables = this.named.map((w) => w.variable);
  }

  /** Trainable variables with their stable checkpoint names, in `variables` order. */
  namedWeights(): NamedWeight[] {
    return this.named.slice();
  }

  /** Output shape and parameter count of every layer (batch dimension omitted). */
  summary(): LayerSummary[] {
    return this.summaryRows.map((row) => ({ ...row, outputShape: row.outputShape.slice() }));
  }

  logits(images: tf.Tensor4D, training: boolean): tf.Tensor2D {
    this.assertUsable(images);
    return tf.tidy(() => {
      let x: tf.Tensor4D = this.inputLayout === 'NCHW' ? tf.transpose(images, [0, 2, 3, 1]) : images;
      for (const block of this.blocks) {
        x = this.convUnit(x, block, block === this.blocks[0]);
        x = tf.maxPool(x, 2, 2, this.padding);
        x = this.dropout(x, training);
      }
      return this.headConv ? this.scalingHead(x) : this.fcHead(x, training);
    });
  }

  /** Class probabilities (softmax of the logits), dropout off. */
  predict(images: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => tf.softmax(this.logits(images, false)));
  }

  dispose(): void {
    if (this.disposed) return;
    for (const w of this.named) w.variable.dispose();
    this.disposed = true;
  }

  // -- forward pieces ----------------------------------------------------------------

  /** `isFirst`: its input is the images, which get no gradient (see class doc) */
  private convUnit(x: tf.Tensor4D, block: ConvBlock, isFirst = false): tf.Tensor4D {
    const kernel = block.kernel as tf.Tensor4D;
    if (block.bn) {
      const { mean, variance, gamma, beta } = block.bn;
      const y = tf.conv2d(x, kernel, 1, this.padding);
      const normed = tf.add(tf.mul(tf.mul(tf.sub(y, mean), tf.rsqrt(tf.add(variance, BN_EPSILON))), gamma), beta);
      return tf.relu(normed as tf.Tensor4D);
    }
    return convBiasRelu(x, kernel, block.bias as tf.Tensor1D, this.padding, { inputGradient: !isFirst, precision: this.precision });
  }

  private scalingHead(x: tf.Tensor4D): tf.Tensor2D {
    const y = this.convUnit(x, this.headConv as ConvBlock);
    const pooled = tf.mean(y, [1, 2]) as tf.Tensor2D;
    const [fc] = this.fc;
    return tf.fused.matMul({ a: pooled, b: fc.kernel as tf.Tensor2D, bias: fc.bias }) as tf.Tensor2D;
  }

  private fcHead(x: tf.Tensor4D, training: boolean): tf.Tensor2D {
    const flat = tf.reshape(x, [x.shape[0], -1]) as tf.Tensor2D;
    const [fc1, fc2] = this.fc;
    let hidden = tf.fused.matMul({ a: flat, b: fc1.kernel as tf.Tensor2D, bias: fc1.bias, activation: 'relu' }) as tf.Tensor2D;
    hidden = this.dropout(hidden, training);
    return tf.fused.matMul({ a: hidden, b: fc2.kernel as tf.Tensor2D, bias: fc2.bias }) as tf.Tensor2D;
  }

  private dropout<T extends tf.Tensor>(x: T, training: boolean): T {
    if (!training || this.keepProb >= 1) return x;
    const mask = tf.tensor(dropoutMask(x.size, this.keepProb, this.dropoutRng), x.shape, 'float32');
    return tf.mul(x, mask);
  }

  // -- construction ------------------------------------------------------------------

  private buildBody(rng: Rng): void {
    const { num_filters: filters, filter_size: k } = this.config.conv_params;
    let [h, w, c] = this.imageShapeNHWC;
    for (let layer = 0; layer < this.config.num_layers; layer++) {
      [h, w] = this.convOutput(h, w, k, `conv${layer}`);
      const block = this.makeConvBlock(`conv${layer}`, k, c, filters, rng, !this.config.batch_norm);
      if (this.config.batch_norm) block.bn = this.makeBatchNorm(`bn${layer}`, [h, w, filters]);
      this.blocks.push(block);
      this.summaryRows.push({ name: `conv${layer}`, outputShape: [h, w, filters], params: blockParams(block) });
      [h, w] = [this.poolOutput(h), this.poolOutput(w)];
      this.assertPositive(h, w, `maxpool${layer}`);
      this.summaryRows.push({ name: `maxpool${layer}`, outputShape: [h, w, filters], params: 0 });
      c = filters;
    }
    this.bodyOutput = [h, w, c];
  }

  private buildHead(rng: Rng): void {
    const [h, w, c] = this.bodyOutput;
    if (this.config.scaling_improvements) {
      const { num_filters: filters, filter_size: k } = this.config.conv_params;
      const layer = this.config.num_layers;
      const [ho, wo] = this.convOutput(h, w, k, `conv${layer}`);
      this.headConv = this.makeConvBlock(`conv${layer}`, k, c, filters, rng);
      this.summaryRows.push({ name: `conv${layer}`, outputShape: [ho, wo, filters], params: blockParams(this.headConv) });
      this.summaryRows.push({ name: 'avgpool', outputShape: [filters], params: 0 });
      this.addDense('fc1', filters, 2, rng);
      return;
    }
    const units = this.config.num_fc_units;
    if (units === undefined || !Number.isInteger(units) || units < 1) {
      throw new Error(`hep_cnn: num_fc_units must be a positive integer when scaling_improvements is false, got ${units}`);
    }
    this.addDense('fc1', h * w * c, units, rng);
    this.addDense('fc2', units, 2, rng);
  }

  private convOutput(h: number, w: number, k: number, layer: string): [number, number] {
    const out: [number, number] = this.padding === 'same' ? [h, w] : [h - k + 1, w - k + 1];
    this.assertPositive(out[0], out[1], layer);
    return out;
  }

  private poolOutput(size: number): number {
    return this.padding === 'same' ? Math.ceil(size / 2) : Math.floor(size / 2);
  }

  private assertPositive(h: number, w: number, layer: string): void {
    if (h < 1 || w < 1) {
      throw new Error(
        `hep_cnn: input_shape ${JSON.stringify(this.config.input_shape)} is too small for num_layers ` +
          `${this.config.num_layers} (${layer} would have size ${h}x${w})`,
      );
    }
  }

  private makeConvBlock(name: string, k: number, cin: number, cout: number, rng: Rng, withBias = true): ConvBlock {
    const kernel = this.addVariable(`${name}/kernel`, [k, k, cin, cout], heNormalValues(k * k * cin * cout, k * k * cin, rng));
    if (!withBias) return { kernel };
    const bias = this.addVariable(`${name}/bias`, [cout], new Float32Array(cout));
    return { kernel, bias };
  }

  private makeBatchNorm(name: string, shape: number[]): NonNullable<ConvBlock['bn']> {
    const size = shape.reduce((a, b) => a * b, 1);
    const filled = (v: number) => new Float32Array(size).fill(v);
    return {
      mean: this.addVariable(`${name}/mean`, shape, filled(0)),
      variance: this.addVariable(`${name}/variance`, shape, filled(1)),
      gamma: this.addVariable(`${name}/gamma`, shape, filled(1)),
      beta: this.addVariable(`${name}/beta`, shape, filled(0)),
    };
  }

  private addDense(name: string, inputs: number, outputs: number, rng: Rng): void {
    const kernel = this.addVariable(`${name}/kernel`, [inputs, outputs], heNormalValues(inputs * outputs, inputs, rng));
    const bias = this.addVariable(`${name}/bias`, [outputs], new Float32Array(outputs));
    this.fc.push({ kernel, bias });
    this.summaryRows.push({ name, outputShape: [outputs], params: inputs * outputs + outputs });
  }

  private addVariable(name: string, shape: number[], values: Float32Array): tf.Variable {
    const variable = tf.variable(tf.tensor(values, shape, 'float32'), true, `${this.prefix}/${name}`);
    this.named.push({ name, variable });
    return variable;
  }

  private assertUsable(images: tf.Tensor4D): void {
    if (this.disposed) throw new Error(`${this.name}: model was disposed`);
    const expected = this.config.input_shape;
    const got = images.shape.slice(1);
    if (images.rank !== 4 || got.some((d, i) => d !== expected[i])) {
      throw new Error(
        `${this.name}: images must be [batch, ${expected.join(', ')}] (${this.inputLayout}), got [${images.shape.join(', ')}]`,
      );
    }
  }
}

function blockParams(block: ConvBlock): number {
  let total = block.kernel.size + (block.bias?.size ?? 0);
  if (block.bn) total += block.bn.mean.size * 4;
  return total;
}

function imageShapeNHWC(config: HepConfig): [number, number, number] {
  const shape = config.input_shape;
  if (!Array.isArray(shape) || shape.length !== 3 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`hep_cnn: input_shape must be three positive integers, got ${JSON.stringify(shape)}`);
  }
  const [a, b, c] = shape;
  return config.conv_params.data_format === 'NCHW' ? [b, c, a] : [a, b, c];
}

function validateArchitecture(config: HepConfig): void {
  const p = config.conv_params;
  const fail = (key: string, what: string, value: unknown) => {
    throw new Error(`hep_cnn: ${key} ${what}, got ${JSON.stringify(value)}`);
  };
  if (!p) fail('conv_params', 'is required', p);
  if (p.data_format !== 'NCHW' && p.data_format !== 'NHWC') fail('conv_params.data_format', 'must be NCHW or NHWC', p.data_format);
  if (p.padding !== 'SAME' && p.padding !== 'VALID') fail('conv_params.padding', 'must be SAME or VALID', p.padding);
  if (p.activation !== 'ReLU') fail('conv_params.activation', 'must be ReLU (the only one the seed accepts)', p.activation);
  if (p.initializer !== 'HE') fail('conv_params.initializer', 'must be HE (the only one the seed accepts)', p.initializer);
  if (!Number.isInteger(p.num_filters) || p.num_filters < 1) fail('conv_params.num_filters', 'must be a positive integer', p.num_filters);
  if (!Number.isInteger(p.filter_size) || p.filter_size < 1) fail('conv_params.filter_size', 'must be a positive integer', p.filter_size);
  if (!Number.isInteger(config.num_layers) || config.num_layers < 1) fail('num_layers', 'must be a positive integer', config.num_layers);
  if (!(config.dropout_p > 0 && config.dropout_p <= 1)) fail('dropout_p', 'must be a keep probability in (0, 1]', config.dropout_p);
}

/** Builds the seed's HEP CNN from a config (see HepCnn). */
export function buildHepCnn(config: HepConfig, opts: HepCnnOptions = {}, backendName?: string): HepCnn {
  const precision = opts.precision ?? 'fp32';
  if (precision === 'fp16') {
    const backend = backendName ?? activeBackendName();
    throw new Error(
      `precision fp16 is not supported on the '${backend}' backend: TensorFlow.js computes in float32 only; use fp32`,
    );
  }
  if (precision === 'bf16') assertBf16(backendName ?? activeBackendName());
  else if (precision !== 'fp32') throw new Error(`hep_cnn: precision must be fp32, bf16 or fp16, got ${JSON.stringify(precision)}`);
  validateArchitecture(config);
  return new HepCnn(config, opts.seed ?? config.seed ?? DEFAULT_SEED, precision);
}

function assertBf16(backend: string): void {
  if (backend !== 'onednn') {
    throw new Error(`precision bf16 needs the onednn backend (hpcdl's oneDNN addon); this process uses '${backend}'; use fp32`);
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { bf16Unsupported } = require('../backend') as typeof import('../backend');
  const reason = bf16Unsupported();
  if (reason) throw new Error(`precision bf16: ${reason}; use fp32`);
}

function activeBackendName(): string {
  // lazy: the backend module is optional for users who manage tfjs themselves
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { currentBackend } = require('../backend') as typeof import('../backend');
  return currentBackend() || tf.getBackend() || 'unknown';
}

/** Number of trainable scalars in a model. */
export function countParameters(model: { variables: tf.Variable[] }): number {
  return model.variables.reduce((total, v) => total + v.size, 0);
}
