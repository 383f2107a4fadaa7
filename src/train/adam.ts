import * as tf from '@tensorflow/tfjs-core';
import type { LearningRate } from '../config/types';
import { learningRateAt } from '../config';
import { ADAM_UPDATE, hasKernel } from '../backend/fused-kernels';

export interface AdamOptions {
  /** a constant or a piecewise/polynomial schedule keyed by global step */
  learningRate: LearningRate;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

/** Moment estimates and step count: everything a restart needs to continue exactly. */
export interface AdamState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/**
 * Adam as TensorFlow 1.x implements it (the seed's optimizer):
 * `lr_t = lr·sqrt(1-β2^t)/(1-β1^t)`, `θ -= lr_t·m/(sqrt(v)+ε)`, ε = 1e-8.
 * The learning rate of the update that moves the global step from `s` to
 * `s+1` is `learningRateAt(schedule, s)`, as with `tf.train.piecewise_constant`.
 */
export class Adam {
  readonly learningRate: LearningRate;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** updates applied so far (= the global step) */
  step = 0;
  /** factor on the scheduled rate at a global step (data parallelism's scaling and warm-up) */
  scale?: (step: number) => number;
  private m: tf.Variable[] = [];
  private v: tf.Variable[] = [];

  constructor(options: AdamOptions) {
    this.learningRate = options.learningRate;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    if (!(this.beta1 >= 0 && this.beta1 < 1) || !(this.beta2 >= 0 && this.beta2 < 1)) {
      throw new Error(`Adam: beta1 and beta2 must be in [0, 1), got ${this.beta1}, ${this.beta2}`);
    }
  }

  /** learning rate the next update will use */
  currentLearningRate(): number {
    const rate = learningRateAt(this.learningRate, this.step);
    return this.scale ? rate * this.scale(this.step) : rate;
  }

  /** Apply one update; `gradients[i]` belongs to `variables[i]`. */
  applyGradients(variables: tf.Variable[], gradients: tf.Tensor[]): void {
    if (variables.length !== gradients.length) {
      throw new Error(`Adam: ${variables.length} variables but ${gradients.length} gradients`);
    }
    this.ensureSlots(variables);
    const t = this.step + 1;
    const lr = this.currentLearningRate();
    const lrT = (lr * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    if (hasKernel(ADAM_UPDATE)) {
      this.applyFused(variables, gradients, lrT);
      this.step = t;
      return;
    }
    tf.tidy(() => {
      variables.forEach((variable, i) => {
        const g = gradients[i];
        const m = tf.add(tf.mul(this.m[i], this.beta1), tf.mul(g, 1 - this.beta1));
        const v = tf.add(tf.mul(this.v[i], this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        this.m[i].assign(m);
        this.v[i].assign(v);
        variable.assign(tf.sub(variable, tf.div(tf.mul(m, lrT), tf.add(tf.sqrt(v), this.epsilon))));
      });
    });
    this.step = t;
  }

  /** The same update as one HpcdlAdamUpdate kernel per variable (a backend's fused pass). */
  private applyFused(variables: tf.Variable[], gradients: tf.Tensor[], lrT: number): void {
    const attrs = { lrT, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
    variables.forEach((variable, i) => {
      tf.tidy(() => {
        const [w, m, v] = tf.engine().runKernel(
          ADAM_UPDATE, { weights: variable, m: this.m[i], v: this.v[i], grad: gradients[i] }, attrs,
        ) as tf.Tensor[];
        this.m[i].assign(m);
        this.v[i].assign(v);
        variable.assign(w);
      });
    });
  }

  /** Copy of the moments (zeros for variables never updated). */
  async getState(variables: tf.Variable[]): Promise<AdamState> {
    this.ensureSlots(variables);
    const m = await Promise.all(this.m.map((t) => t.data() as Promise<Float32Array>));
    const v = await Promise.all(this.v.map((t) => t.data() as Promise<Float32Array>));
    return { step: this.step, m, v };
  }

  setState(variables: tf.Variable[], state: AdamState): void {
    if (state.m.length !== variables.length || state.v.length !== variables.length) {
      throw new Error(`Adam: state has ${state.m.length} moments for ${variables.length} variables`);
    }
    this.ensureSlots(variables);
    variables.forEach((variable, i) => {
      for (const [slot, values, label] of [[this.m[i], state.m[i], 'm'], [this.v[i], state.v[i], 'v']] as const) {
        if (values.length !== variable.size) {
          throw new Error(`Adam: moment ${label} of ${variable.name} has ${values.length} values, expected ${variable.size}`);
        }
        tf.tidy(() => slot.assign(tf.tensor(values, variable.shape, 'float32')));
      }
    });
    this.step = state.step;
  }

  dispose(): void {
    for (const slot of [...this.m, ...this.v]) slot.dispose();
    this.m = [];
    this.v = [];
  }

  private ensureSlots(variables: tf.Variable[]): void {
    if (this.m.length === variables.length) return;
    if (this.m.length !== 0) throw new Error('Adam: the variable list changed between updates');
    const zeroSlot = (v: tf.Variable) => tf.tidy(() => tf.variable(tf.zerosLike(v), false));
    this.m = variables.map(zeroSlot);
    this.v = variables.map(zeroSlot);
  }
}
