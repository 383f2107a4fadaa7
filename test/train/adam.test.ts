import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend';
import { learningRateAt, type LearningRate } from '../../src/config';
import { Adam } from '../../src/train/adam';

before(async () => {
  await initBackend({ force: 'cpu', log: () => undefined });
});

/** Plain-JS TF1 Adam on one parameter vector, as the reference. */
function referenceAdam(theta: number[], grads: (t: number[]) => number[], schedule: LearningRate, steps: number) {
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  const lrs: number[] = [];
  for (let s = 0; s < steps; s++) {
    const g = grads(theta);
    const t = s + 1;
    const lr = learningRateAt(schedule, s);
    lrs.push(lr);
    const lrT = (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
    for (let i = 0; i < theta.length; i++) {
      m[i] = 0.9 * m[i] + 0.1 * g[i];
      v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
      theta[i] -= (lrT * m[i]) / (Math.sqrt(v[i]) + 1e-8);
    }
  }
  return { theta, lrs };
}

const target = [1.5, -2, 0.25, 3];
const quadraticGrad = (t: number[]) => t.map((x, i) => 2 * (x - target[i]) * (i + 1));

async function runAdam(schedule: LearningRate, steps: number) {
  const variable = tf.variable(tf.zeros([4]));
  const adam = new Adam({ learningRate: schedule });
  const lrs: number[] = [];
  for (let s = 0; s < steps; s++) {
    lrs.push(adam.currentLearningRate());
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.mul(tf.square(tf.sub(variable, tf.tensor1d(target))), tf.tensor1d([1, 2, 3, 4]))) as tf.Scalar,
      [variable],
    );
    adam.applyGradients([variable], [grads[variable.name]]);
    tf.dispose(grads);
  }
  const theta = Array.from(await variable.data());
  return { theta, lrs, adam, variable };
}

test('Adam matches the TF1 update rule with a constant learning rate', async () => {
  const ours = await runAdam(0.05, 30);
  const ref = referenceAdam([0, 0, 0, 0], quadraticGrad, 0.05, 30);
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(ours.theta[i] - ref.theta[i]) < 1e-5, `θ${i}: ${ours.theta[i]} vs ${ref.theta[i]}`);
  assert.equal(ours.adam.step, 30);
});

test('the learning-rate schedule is applied per global step (piecewise and polynomial)', async () => {
  const piecewise: LearningRate = { mode: 'piecewise', learning_rate_params: { '0': 0.1, '5': 0.01, '12': 0.001 } };
  const polynomial: LearningRate = { mode: 'polynomial', power: 2, learning_rate_params: { '0': 0.1, '15': 0.001 } };
  for (const schedule of [piecewise, polynomial]) {
    const ours = await runAdam(schedule, 20);
    const ref = referenceAdam([0, 0, 0, 0], quadraticGrad, schedule, 20);
    assert.deepEqual(ours.lrs, ref.lrs);
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(ours.theta[i] - ref.theta[i]) < 1e-5, `θ${i}: ${ours.theta[i]} vs ${ref.theta[i]}`);
  }
  // the schedule really changes between steps
  const lrs = (await runAdam(piecewise, 14)).lrs;
  assert.equal(lrs[0], 0.1);
  assert.equal(lrs[6], 0.01);
  assert.equal(lrs[13], 0.001);
});

test('Adam state round-trips: restoring it continues exactly', async () => {
  const first = await runAdam(0.05, 10);
  const state = await first.adam.getState([first.variable]);
  const restoredVar = tf.variable(tf.tensor1d(first.theta));
  const restored = new Adam({ learningRate: 0.05 });
  restored.setState([restoredVar], state);
  assert.equal(restored.step, 10);
  for (const [adam, variable] of [[first.adam, first.variable], [restored, restoredVar]] as const) {
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.mul(tf.square(tf.sub(variable, tf.tensor1d(target))), tf.tensor1d([1, 2, 3, 4]))) as tf.Scalar,
      [variable],
    );
    adam.applyGradients([variable], [grads[variable.name]]);
  }
  assert.deepEqual(Array.from(await restoredVar.data()), Array.from(await first.variable.data()));
});

test('Adam rejects mismatched gradients and state', () => {
  const a = tf.variable(tf.zeros([2]));
  const adam = new Adam({ learningRate: 0.1 });
  assert.throws(() => adam.applyGradients([a], []), /1 variables but 0 gradients/);
  assert.throws(() => adam.setState([a], { step: 1, m: [new Float32Array(3)], v: [new Float32Array(3)] }), /has 3 values, expected 2/);
});
