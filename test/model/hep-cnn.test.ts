import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend';
import { buildHepCnn, countParameters, weightedSoftmaxCrossEntropy } from '../../src/model';
import { config224, config64, tinyConfig } from './configs';

before(async () => {
  await initBackend({ log: () => undefined });
});

function randomImages(shape: number[], seed: number): tf.Tensor4D {
  return tf.randomUniform(shape, 0, 1, 'float32', seed) as tf.Tensor4D;
}

test('64 variant: logits [B,2] in both layouts, parameter count is the seed arithmetic', () => {
  // conv0 3x3x3x128+128, conv1/conv2 3x3x128x128+128, fc1 (8*8*128)x512+512, fc2 512x2+2
  const expected = (3 * 3 * 3 * 128 + 128) + 2 * (3 * 3 * 128 * 128 + 128) + (8 * 8 * 128 * 512 + 512) + (512 * 2 + 2);
  assert.equal(expected, 4494594);
  for (const format of ['NCHW', 'NHWC'] as const) {
    const config = config64(format);
    const model = buildHepCnn(config, { seed: 1 });
    assert.equal(model.inputLayout, format);
    assert.equal(countParameters(model), expected);
    const x = randomImages([2, ...config.input_shape], 7);
    const logits = model.logits(x, false);
    assert.deepEqual(logits.shape, [2, 2]);
    const p = model.predict(x);
    assert.deepEqual(p.shape, [2, 2]);
    const rows = p.arraySync();
    for (const row of rows) assert.ok(Math.abs(row[0] + row[1] - 1) < 1e-5, 'softmax rows sum to 1');
    tf.dispose([x, logits, p]);
    model.dispose();
  }
});

test('224 variant (scaling_improvements head): logits [B,2] in both layouts, parameter count', () => {
  // conv0 3x3x3x128+128, conv1..conv3 and the head conv4 3x3x128x128+128, fc1 128x2+2
  const expected = (3 * 3 * 3 * 128 + 128) + 4 * (3 * 3 * 128 * 128 + 128) + (128 * 2 + 2);
  assert.equal(expected, 594178);
  for (const format of ['NCHW', 'NHWC'] as const) {
    const config = config224(format);
    const model = buildHepCnn(config, { seed: 1 });
    assert.equal(countParameters(model), expected);
    const names = model.namedWeights().map((w) => w.name);
    assert.deepEqual(names, [
      'conv0/kernel', 'conv0/bias', 'conv1/kernel', 'conv1/bias', 'conv2/kernel', 'conv2/bias',
      'conv3/kernel', 'conv3/bias', 'conv4/kernel', 'conv4/bias', 'fc1/kernel', 'fc1/bias',
    ]);
    const x = randomImages([1, ...config.input_shape], 3);
    const logits = model.logits(x, true);
    assert.deepEqual(logits.shape, [1, 2]);
    assert.ok(Number.isFinite(logits.dataSync()[0]));
    tf.dispose([x, logits]);
    model.dispose();
  }
});

test('stable weight names and shapes for the 64 variant', () => {
  const model = buildHepCnn(config64('NCHW'), { seed: 3 });
  const shapes = Object.fromEntries(model.namedWeights().map((w) => [w.name, w.variable.shape]));
  assert.deepEqual(shapes, {
    'conv0/kernel': [3, 3, 3, 128], 'conv0/bias': [128],
    'conv1/kernel': [3, 3, 128, 128], 'conv1/bias': [128],
    'conv2/kernel': [3, 3, 128, 128], 'conv2/bias': [128],
    'fc1/kernel': [8192, 512], 'fc1/bias': [512],
    'fc2/kernel': [512, 2], 'fc2/bias': [2],
  });
  assert.equal(model.variables.length, 10);
  assert.ok(model.variables.every((v, i) => v === model.namedWeights()[i].variable));
  const bias = model.namedWeights()[1].variable.dataSync();
  assert.ok(bias.every((b) => b === 0), 'biases start at zero');
  // He normal: std sqrt(2/fan_in), truncated at 2 std
  const kernel = model.namedWeights()[2].variable.dataSync();
  const std = Math.sqrt(2 / (3 * 3 * 128));
  let sumSq = 0;
  for (const v of kernel) {
    assert.ok(Math.abs(v) < 2 * std + 1e-7);
    sumSq += v * v;
  }
  const measured = Math.sqrt(sumSq / kernel.length);
  // truncated at 2 sigma the std is 0.88 of the untruncated one
  assert.ok(Math.abs(measured / std - 0.88) < 0.02, `kernel std ratio ${measured / std}`);
  model.dispose();
});

test('same seed gives identical weights and logits; a different seed does not', () => {
  const config = tinyConfig();
  const a = buildHepCnn(config, { seed: 42 });
  const b = buildHepCnn(config, { seed: 42 });
  const c = buildHepCnn(config, { seed: 43 });
  for (let i = 0; i < a.variables.length; i++) {
    assert.deepEqual(a.variables[i].dataSync(), b.variables[i].dataSync());
  }
  assert.notDeepEqual(a.variables[0].dataSync(), c.variables[0].dataSync());
  const x = randomImages([4, 12, 12, 3], 1);
  assert.deepEqual(a.logits(x, false).dataSync(), b.logits(x, false).dataSync());
  // dropout masks come from the seed too
  assert.deepEqual(a.logits(x, true).dataSync(), b.logits(x, true).dataSync());
  [a, b, c].forEach((m) => m.dispose());
  x.dispose();
});

test('NCHW input is transposed inside the model: same weights give the same logits as NHWC', () => {
  const nhwc = buildHepCnn(tinyConfig({}, 'NHWC'), { seed: 5 });
  const nchw = buildHepCnn(tinyConfig({}, 'NCHW'), { seed: 5 });
  const x = randomImages([3, 12, 12, 3], 2);
  const expected = nhwc.logits(x, false).dataSync();
  const actual = nchw.logits(tf.transpose(x, [0, 3, 1, 2]), false).dataSync();
  for (let i = 0; i < expected.length; i++) assert.ok(Math.abs(actual[i] - expected[i]) < 1e-5);
  assert.throws(() => nchw.logits(x, false), /images must be \[batch, 3, 12, 12\] \(NCHW\), got \[3, 12, 12, 3\]/);
  nhwc.dispose();
  nchw.dispose();
});

test('dropout is active only in training (dropout_p is the keep probability)', () => {
  const model = buildHepCnn(tinyConfig({ dropout_p: 0.5 }), { seed: 9 });
  const x = randomImages([4, 12, 12, 3], 4);
  const eval1 = model.logits(x, false).dataSync();
  const eval2 = model.logits(x, false).dataSync();
  assert.deepEqual(eval1, eval2);
  const train1 = model.logits(x, true).dataSync();
  const train2 = model.logits(x, true).dataSync();
  assert.notDeepEqual(train1, eval1);
  assert.notDeepEqual(train1, train2);
  const keepAll = buildHepCnn(tinyConfig({ dropout_p: 1 }), { seed: 9 });
  assert.deepEqual(keepAll.logits(x, true).dataSync(), eval1);
  model.dispose();
  keepAll.dispose();
});

test('batch_norm: the seed per-element BN variables (mean/var/gamma/beta, 0/1/1/0), no conv bias', () => {
  const model = buildHepCnn(tinyConfig({ batch_norm: true }), { seed: 1 });
  const named = model.namedWeights();
  assert.deepEqual(named.slice(0, 5).map((w) => w.name), ['conv0/kernel', 'bn0/mean', 'bn0/variance', 'bn0/gamma', 'bn0/beta']);
  assert.deepEqual(named[1].variable.shape, [12, 12, 6]);
  assert.deepEqual(named[6].variable.shape, [6, 6, 6]);
  assert.ok(named[2].variable.dataSync().every((v) => v === 1));
  assert.ok(named[4].variable.dataSync().every((v) => v === 0));
  // with the initial values BN is x / sqrt(1 + 1e-4): given the plain model's weights (its biases
  // are 0), every layer's output is the plain one scaled by that, so the logits by its num_layers-th power
  const plain = buildHepCnn(tinyConfig({ batch_norm: false }), { seed: 1 });
  const plainByName = new Map(plain.namedWeights().map((w) => [w.name, w.variable]));
  let shared = 0;
  for (const w of named) {
    const from = plainByName.get(w.name);
    if (from) (w.variable.assign(from), shared++);
  }
  assert.equal(shared, 2 + 4, 'the conv kernels and the fc kernels and biases come from the plain model');
  const x = randomImages([2, 12, 12, 3], 8);
  const expected = tf.mul(plain.logits(x, false), Math.pow(1 + 1e-4, -2 / 2)).arraySync() as number[][];
  const got = model.logits(x, false).arraySync() as number[][];
  const scale = Math.max(...expected.flat().map(Math.abs));
  assert.ok(scale > 1e-3, 'non-trivial logits');
  got.flat().forEach((v, i) => assert.ok(Math.abs(v - expected.flat()[i]) <= 1e-5 * scale, `logit ${i}: ${v} vs ${expected.flat()[i]}`));
  const { grads } = tf.variableGrads(() => tf.sum(model.logits(x, false)) as tf.Scalar, model.variables);
  for (const w of named) assert.ok(grads[w.variable.name], `gradient for ${w.name}`);
  assert.ok(tf.any(tf.notEqual(grads[named[1].variable.name], 0)).dataSync()[0], 'bn mean receives a gradient');
  model.dispose();
  plain.dispose();
});

test('weightedSoftmaxCrossEntropy equals the hand-computed weighted mean over non-zero weights', () => {
  const logits = tf.tensor2d([[1, 2], [3, 0.5], [0, 0], [-1, 4]]);
  const labels = tf.tensor1d([1, 0, 1, 0], 'int32');
  const weights = tf.tensor1d([2, 0, 1, 0.5]);
  // CE = log(exp(a)+exp(b)) - logit[label]
  const ce = [
    Math.log(Math.exp(1) + Math.exp(2)) - 2,
    Math.log(Math.exp(3) + Math.exp(0.5)) - 3,
    Math.log(2),
    Math.log(Math.exp(-1) + Math.exp(4)) + 1,
  ];
  const expected = (2 * ce[0] + 0 * ce[1] + 1 * ce[2] + 0.5 * ce[3]) / 3; // three non-zero weights
  const loss = weightedSoftmaxCrossEntropy(logits, labels, weights).dataSync()[0];
  assert.ok(Math.abs(loss - expected) < 1e-5, `loss ${loss} vs ${expected}`);
  const unweighted = weightedSoftmaxCrossEntropy(logits, labels, tf.ones([4]) as tf.Tensor1D).dataSync()[0];
  assert.ok(Math.abs(unweighted - (ce[0] + ce[1] + ce[2] + ce[3]) / 4) < 1e-5);
  assert.equal(weightedSoftmaxCrossEntropy(logits, labels, tf.zeros([4]) as tf.Tensor1D).dataSync()[0], 0);
  assert.throws(() => weightedSoftmaxCrossEntropy(logits, tf.tensor1d([1], 'int32'), weights), /batch size/);
});

test('a few Adam steps on a separable toy problem reduce the loss', () => {
  const model = buildHepCnn(tinyConfig({ dropout_p: 1 }), { seed: 11 });
  const batch = 16;
  const labels = tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 2), 'int32');
  // class 1 lights up the top half of the image, class 0 the bottom half
  const images = tf.tidy(() => {
    const rows = tf.reshape(tf.range(0, 12), [1, 12, 1, 1]);
    const top = tf.cast(tf.less(rows, 6), 'float32');
    const lab = tf.reshape(tf.cast(labels, 'float32'), [batch, 1, 1, 1]);
    const pattern = tf.add(tf.mul(lab, top), tf.mul(tf.sub(1, lab), tf.sub(1, top)));
    return tf.add(tf.mul(tf.ones([batch, 12, 12, 3]), pattern), tf.randomUniform([batch, 12, 12, 3], 0, 0.2, 'float32', 3));
  }) as tf.Tensor4D;
  const weights = tf.ones([batch]) as tf.Tensor1D;
  const optimizer = tf.train.adam(1e-2);
  const lossOf = () => weightedSoftmaxCrossEntropy(model.logits(images, true), labels, weights);
  const initial = lossOf().dataSync()[0];
  for (let step = 0; step < 15; step++) optimizer.minimize(lossOf, false, model.variables);
  const final = lossOf().dataSync()[0];
  assert.ok(final < initial * 0.5, `loss ${initial} → ${final}`);
  optimizer.dispose();
  model.dispose();
});

test('fp16 is refused with a clear error naming the backend', () => {
  assert.throws(() => buildHepCnn(tinyConfig(), { precision: 'fp16' }, 'wasm'), /precision fp16 is not supported on the 'wasm' backend/);
  assert.throws(() => buildHepCnn(tinyConfig(), { precision: 'fp16' }, 'cpu'), /'cpu' backend/);
});

test('summary lists every layer with output shapes and parameters; VALID padding shrinks maps', () => {
  const model = buildHepCnn(config64('NHWC'), { seed: 2 });
  const rows = model.summary();
  assert.deepEqual(rows.map((r) => [r.name, r.outputShape.join('x'), r.params]), [
    ['conv0', '64x64x128', 3584], ['maxpool0', '32x32x128', 0],
    ['conv1', '32x32x128', 147584], ['maxpool1', '16x16x128', 0],
    ['conv2', '16x16x128', 147584], ['maxpool2', '8x8x128', 0],
    ['fc1', '512', 4194816], ['fc2', '2', 1026],
  ]);
  assert.equal(rows.reduce((n, r) => n + r.params, 0), countParameters(model));
  model.dispose();
  // VALID: 12 → conv 10 → pool 5 → conv 3 → pool 1; flatten 1*1*6 → fc1 16
  const valid = buildHepCnn(tinyConfig({ conv_params: { padding: 'VALID' } }), { seed: 2 });
  assert.deepEqual(valid.namedWeights().find((w) => w.name === 'fc1/kernel')?.variable.shape, [6, 16]);
  const x = randomImages([2, 12, 12, 3], 6);
  assert.deepEqual(valid.logits(x, true).shape, [2, 2]);
  valid.dispose();
});

test('bad architectures fail naming the key', () => {
  assert.throws(() => buildHepCnn(tinyConfig({ num_layers: 3, conv_params: { padding: 'VALID' } })), /too small for num_layers 3 \(conv2 would have size -1x-1\)/);
  assert.throws(() => buildHepCnn(tinyConfig({ conv_params: { padding: 'same' as 'SAME' } })), /conv_params.padding must be SAME or VALID/);
  assert.throws(() => buildHepCnn(tinyConfig({ num_fc_units: undefined })), /num_fc_units must be a positive integer/);
  assert.throws(() => buildHepCnn(tinyConfig({ dropout_p: 0 })), /dropout_p must be a keep probability/);
});
