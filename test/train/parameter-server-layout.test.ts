/**
 * The parameter-server pieces that need no cluster: the seed's roles, the
 * servers' slices, layouts the seed refuses (naming the field), and Adam on
 * a slice equal to the training loop's Adam on the whole variables.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend';
import { Adam, checkLayout, roleOf, shardRanges, ShardAdam } from '../../src/train';
import { parameterServerLayout } from '../../cluster/train/strategy';

before(async () => {
  await initBackend({ force: 'cpu', log: () => undefined });
});

test('roles: the first num_ps ranks serve, worker task_index = rank - num_ps, the chief is worker 0', () => {
  assert.deepEqual([0, 1, 2, 3, 4].map((r) => roleOf(r, 2)), [
    { role: 'ps', index: 0 },
    { role: 'ps', index: 1 },
    { role: 'worker', index: 0, chief: true },
    { role: 'worker', index: 1, chief: false },
    { role: 'worker', index: 2, chief: false },
  ]);
});

test('slices: contiguous, covering every value once, sizes within one of each other', () => {
  for (const [total, servers] of [[70818, 1], [70818, 3], [5, 4], [1, 2]]) {
    const ranges = shardRanges(total, servers);
    assert.equal(ranges[0][0], 0);
    assert.equal(ranges[servers - 1][1], total);
    ranges.slice(1).forEach(([a], i) => assert.equal(a, ranges[i][1]));
    const sizes = ranges.map(([a, b]) => b - a);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `${total} over ${servers}: ${sizes}`);
  }
});

test('layouts the seed refuses are refused, naming the field', () => {
  assert.throws(() => checkLayout({ numPs: 3, mode: 'sync', numHotSpares: 0 }, 3), /num_ps 3 leaves no worker among 3 ranks/);
  assert.throws(() => checkLayout({ numPs: 0, mode: 'sync', numHotSpares: 0 }, 3), /num_ps must be a positive integer/);
  assert.throws(() => checkLayout({ numPs: 1, mode: 'sync', numHotSpares: 2 }, 3), /num_hot_spares 2 must be smaller than the 2 workers/);
  assert.throws(() => checkLayout({ numPs: 1, mode: 'later' as 'sync', numHotSpares: 0 }, 3), /mode must be 'sync' or 'async', got "later"/);
  assert.deepEqual(checkLayout({ numPs: 1, mode: 'async', numHotSpares: 5 }, 3), { numPs: 1, mode: 'async', numHotSpares: 5 }, 'async ignores hot spares');
});

test("cluster.train's strategy: parameter servers when num_ps > 0 (config or option), overridable", () => {
  const hep = (numPs?: number) => ({ kind: 'hep' as const, train: { config: { num_ps: numPs, mode: 'async', num_hot_spares: 0 } as never } });
  const module = { kind: 'module' as const, module: 'm', export: 'training', config: { batchSize: 8, learningRate: 1, epochs: 1 }, outputDir: 'o' };
  assert.equal(parameterServerLayout({}, hep(), 3), undefined);
  assert.deepEqual(parameterServerLayout({}, hep(1), 3), { numPs: 1, mode: 'async', numHotSpares: 0 });
  assert.equal(parameterServerLayout({ strategy: 'allreduce' }, hep(1), 3), undefined);
  assert.deepEqual(parameterServerLayout({ strategy: 'parameter-server' }, module, 3), { numPs: 1, mode: 'sync', numHotSpares: 0 });
  assert.deepEqual(parameterServerLayout({ numPs: 2, mode: 'sync', numHotSpares: 1 }, module, 5), { numPs: 2, mode: 'sync', numHotSpares: 1 });
  assert.throws(() => parameterServerLayout({ numPs: 2 }, module, 2), /^Error: cluster\.train: num_ps 2 leaves no worker among 2 ranks/);
  assert.throws(() => parameterServerLayout({ strategy: 'ring' as 'allreduce' }, module, 2), /strategy must be 'allreduce' or 'parameter-server'/);
});

test('Adam on two slices makes the update of Adam on the whole variables', () => {
  const schedule = { mode: 'piecewise' as const, learning_rate_params: { '0': 0.01, '3': 0.005 } };
  const values = Float32Array.from({ length: 37 }, (_, i) => Math.sin(i));
  const variable = tf.variable(tf.tensor1d(values));
  const whole = new Adam({ learningRate: schedule });
  const params = values.slice();
  const ranges = shardRanges(values.length, 2);
  const slices = ranges.map(([a, b]) => new ShardAdam(b - a, { learningRate: schedule }));
  for (let step = 0; step < 6; step++) {
    const grads = Float32Array.from({ length: values.length }, (_, i) => Math.cos(i * (step + 1)) * (i % 5 === 0 ? 1e-4 : 1));
    whole.applyGradients([variable], [tf.tensor1d(grads)]);
    ranges.forEach(([a, b], p) => {
      const slice = params.subarray(a, b);
      slices[p].apply(slice, grads.subarray(a, b));
    });
  }
  const expected = variable.dataSync() as Float32Array;
  let maxDiff = 0;
  expected.forEach((x, i) => (maxDiff = Math.max(maxDiff, Math.abs(x - params[i]))));
  assert.ok(maxDiff < 1e-6, `slices differ from the whole by ${maxDiff}`);
  assert.deepEqual(slices.map((s) => s.step), [6, 6]);
  assert.throws(() => slices[0].apply(params.subarray(0, 3), new Float32Array(3)), /3 gradients for a slice of 18 values/);
  variable.dispose();
  whole.dispose();
});
