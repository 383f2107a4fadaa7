/**
 * Adam on one parameter server's slice of the flattened variables: the same
 * TF 1.x update as adam.ts (`lr_t = lr·sqrt(1-β2^t)/(1-β1^t)`,
 * `θ -= lr_t·m/(sqrt(v)+ε)`), on plain Float32Arrays (the server runs no
 * model). Adam is elementwise, so the servers' slices together make exactly
 * the update one Adam over every variable would.
 */
import type { LearningRate } from '../config/types';
import { learningRateAt } from '../config';

export interface ShardAdamOptions {
  learningRate: LearningRate;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export class ShardAdam {
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** updates applied so far (the global step) */
  step = 0;
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;

  constructor(
    readonly length: number,
    private readonly options: ShardAdamOptions,
  ) {
    this.m = new Float32Array(length);
    this.v = new Float32Array(length);
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
  }

  /** learning rate of the next update */
  currentLearningRate(): number {
    return learningRateAt(this.options.learningRate, this.step);
  }

  /** One update of `params` in place with `gradients` (same length). */
  apply(params: Float32Array, gradients: Float32Array): void {
    if (params.length !== this.length || gradients.length !== this.length) {
      throw new Error(`parameter server Adam: ${gradients.length} gradients for a slice of ${this.length} values`);
    }
    const t = this.step + 1;
    const lr = this.currentLearningRate();
    const lrT = (lr * Math.sqrt(1 - this.beta2 ** t)) / (1 - this.beta1 ** t);
    const { m, v, beta1, beta2, epsilon } = this;
    for (let i = 0; i < params.length; i++) {
      const g = gradients[i];
      m[i] = m[i] * beta1 + g * (1 - beta1);
      v[i] = v[i] * beta2 + g * g * (1 - beta2);
      params[i] -= (m[i] * lrT) / (Math.sqrt(v[i]) + epsilon);
    }
    this.step = t;
  }
}
