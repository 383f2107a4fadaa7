import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend, ONEDNN_KERNELS, setOnednnPrecision } from '../../src/backend';
import { loadAddon } from '../../src/backend/onednn/addon';

const load = loadAddon();
const skip = load.addon ? false : `onednn addon unavailable: ${load.reason}`;

before(async () => {
  if (!skip) await initBackend({ force: 'onednn', log: () => undefined });
});

after(() => {
  if (!skip) {
    setOnednnPrecision('fp32');
    tf.setBackend('onednn');
  }
});

/** Runs f on cpu and on onednn with the same inputs; returns both results flattened. */
function onBoth(f: () => tf.Tensor | tf.Tensor[]): [Float32Array[], Float32Array[]] {
  const runOn = (backend: string) => {
    tf.setBackend(backend);
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => Float32Array.from(t.dataSync() as Float32Array));
    });
  };
  return [runOn('cpu'), runOn('onednn')];
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string, rel = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0, `${what}: all zeros`);
  for (let i = 0; i < expected.length; i++) {
    const same = Number.isNaN(expected[i]) ? Number.isNaN(actual[i]) : Math.abs(actual[i] - expected[i]) <= rel * scale;
    if (!same) assert.fail(`${what}: element ${i} onednn ${actual[i]} vs cpu ${expected[i]} (scale ${scale})`);
  }
}

function assertParity(what: string, f: () => tf.Tensor | tf.Tensor[], rel = 1e-4): void {
  const [cpu, native] = onBoth(f);
  cpu.forEach((expected, i) => assertClose(native[i], expected, `${what} [output ${i}]`, rel));
}

/** Seeded inputs, created inside the tidy of the backend under test. */
const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

/** A scalar loss whose gradient reaches every output element with a different weight. */
function weightedSum(y: tf.Tensor, seed: number): tf.Scalar {
  return tf.sum(tf.mul(y, normal(y.shape, seed)));
}

test('the replaced kernels are the native ones, everything else is the cpu kernel', { skip }, () => {
  for (const name of ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter', 'FusedConv2D', 'BatchMatMul', '_FusedMatMul', 'MaxPool', 'MaxPoolGrad']) {
    assert.ok(ONEDNN_KERNELS.includes(name), name);
    assert.notEqual(tf.getKernel(name, 'onednn')?.kernelFunc, tf.getKernel(name, 'cpu')?.kernelFunc, name);
  }
  assert.equal(tf.getKernel('Exp', 'onednn')?.kernelFunc, tf.getKernel('Exp', 'cpu')?.kernelFunc);
});

interface ConvCase {
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number | [number, number];
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
  dataFormat?: 'NHWC' | 'NCHW';
}

const CONV_CASES: ConvCase[] = [
  { x: [2, 9, 9, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same' },
  { x: [3, 7, 10, 5], filter: [3, 2, 5, 4], strides: [2, 1], pad: 'same' },
  { x: [1, 8, 7, 2], filter: [3, 3, 2, 3], strides: 2, pad: 'valid' },
  { x: [2, 6, 5, 3], filter: [2, 3, 3, 2], strides: [1, 2], pad: [[0, 0], [1, 2], [0, 1], [0, 0]] },
  { x: [2, 5, 5, 7], filter: [1, 1, 7, 3], strides: 1, pad: 'valid' },
  { x: [2, 4, 9, 6], filter: [3, 3, 4, 5], strides: 1, pad: 'same', dataFormat: 'NCHW' },
  { x: [1, 5, 6, 7], filter: [3, 3, 5, 2], strides: 2, pad: 'same', dataFormat: 'NCHW' },
];

for (const [i, c] of CONV_CASES.entries()) {
  test(`conv2d values and both gradients: x ${c.x} filter ${c.filter} strides ${c.strides} pad ${JSON.stringify(c.pad)} ${c.dataFormat ?? 'NHWC'}`, { skip }, () => {
    assertParity(`conv case ${i}`, () => {
      const x = normal(c.x, 10 + i) as tf.Tensor4D;
      const filter = normal(c.filter, 20 + i) as tf.Tensor4D;
      const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides, c.pad, c.dataFormat ?? 'NHWC');
      const y = conv(x, filter);
      const [dx, dFilter] = tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(conv(a, b), 30 + i))([x, filter]);
      return [y, dx, dFilter];
    });
  });
}

test('conv2d with dilation 2 (forward)', { skip }, () => {
  assertParity('dilated conv', () => tf.conv2d(normal([2, 11, 9, 3], 1) as tf.Tensor4D, normal([3, 3, 3, 4], 2) as tf.Tensor4D, 1, 'same', 'NHWC', 2));
});

test('fused conv2d: bias + relu natively; per-channel bias, linear; a prelu falls back to the cpu kernel', { skip }, () => {
  assertParity('fused conv', () => {
    const x = normal([2, 9, 7, 4], 3) as tf.Tensor4D;
    const filter = normal([3, 3, 4, 6], 4) as tf.Tensor4D;
    const bias = normal([6], 5);
    return [
      tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias, activation: 'relu' }),
      tf.fused.conv2d({ x, filter, strides: 2, pad: 'valid', bias }),
      tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias: tf.scalar(0.5), activation: 'relu' }),
      tf.fused.conv2d({ x, filter, strides: 1, pad: 'same', bias, activation: 'prelu', preluActivationWeights: tf.scalar(0.1) }),
    ];
  });
});

const MATMUL_CASES: [number[], number[], boolean, boolean][] = [
  [[5, 7], [7, 3], false, false],
  [[7, 5], [7, 3], true, false],
  [[5, 7], [3, 7], false, true],
  [[7, 5], [3, 7], true, true],
  [[2, 5, 7], [2, 7, 3], false, false],
  [[2, 3, 4, 6], [2, 3, 4, 5], true, false],
];

test('matMul with a broadcast batch (the cpu kernel; tfjs has no gradient for it)', { skip }, () => {
  assertParity('broadcast matMul', () => tf.matMul(normal([1, 5, 7], 43), normal([3, 7, 2], 44)));
});

for (const [aShape, bShape, ta, tb] of MATMUL_CASES) {
  test(`matMul values and gradients: ${aShape}${ta ? 'ᵀ' : ''} × ${bShape}${tb ? 'ᵀ' : ''}`, { skip }, () => {
    assertParity('matMul', () => {
      const a = normal(aShape, 40);
      const b = normal(bShape, 41);
      const mm = (p: tf.Tensor, q: tf.Tensor) => tf.matMul(p, q, ta, tb);
      return [mm(a, b), ...tf.grads((p: tf.Tensor, q: tf.Tensor) => weightedSum(mm(p, q), 42))([a, b])];
    });
  });
}

test('fused matMul: bias and relu natively (values), and as the model uses it under a gradient', { skip }, () => {
  assertParity('fused matMul', () => {
    const a = normal([6, 9], 50) as tf.Tensor2D;
    const b = normal([9, 4], 51) as tf.Tensor2D;
    const bias = normal([4], 52);
    const linear = (p: tf.Tensor, q: tf.Tensor) => tf.fused.matMul({ a: p as tf.Tensor2D, b: q as tf.Tensor2D, bias });
    return [
      tf.fused.matMul({ a, b, bias, activation: 'relu' }),
      tf.fused.matMul({ a, b: normal([4, 9], 53) as tf.Tensor2D, transposeB: true, bias }),
      linear(a, b),
      ...tf.grads((p: tf.Tensor, q: tf.Tensor) => weightedSum(linear(p, q), 54))([a, b]),
    ];
  });
});

const POOL_CASES: [number[], number | [number, number], number | [number, number], 'same' | 'valid'][] = [
  [[2, 8, 8, 3], 2, 2, 'valid'],
  [[2, 7, 9, 5], 2, 2, 'same'],
  [[1, 9, 7, 4], 3, 2, 'same'],
  [[2, 6, 6, 2], [3, 2], [1, 2], 'valid'],
];

for (const [shape, size, strides, pad] of POOL_CASES) {
  test(`maxPool values and gradient, with ties: x ${shape} window ${size} strides ${strides} ${pad}`, { skip }, () => {
    assertParity('maxPool', () => {
      // few distinct values: windows hold ties, where the gradient must go to the first maximum as on cpu
      const x = tf.round(tf.mul(normal(shape, 60), 1.5));
      const pool = (t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, size, strides, pad);
      return [pool(x), tf.grad((t: tf.Tensor) => weightedSum(pool(t), 61))(x)];
    });
  });
}

test('elementwise: add, sub, mul, div (same shape, scalar either side, broadcast), step with NaN, sqrt, square, relu', { skip }, () => {
  assertParity('elementwise', () => {
    const a = normal([3, 4, 5], 70);
    const b = normal([3, 4, 5], 71);
    const s = tf.scalar(1.7);
    const row = normal([5], 72);
    const withNaN = tf.concat([tf.reshape(a, [-1]), tf.tensor1d([NaN, 0, -0])]);
    return [
      tf.add(a, b), tf.sub(a, b), tf.mul(a, b), tf.div(a, b),
      tf.add(s, a), tf.sub(a, s), tf.mul(s, a), tf.div(a, s), tf.div(s, b),
      tf.mul(a, row), tf.add(row, a),
      tf.step(withNaN), tf.step(withNaN, 0.3), tf.sqrt(tf.abs(a)), tf.square(a), tf.relu(withNaN),
    ];
  });
});

test('sum: over all axes but the last natively (the bias gradient), keepDims, and other axes', { skip }, () => {
  assertParity('sum', () => {
    const x = normal([4, 5, 6, 7], 80);
    return [tf.sum(x, [0, 1, 2]), tf.sum(x, [2, 0, 1], true), tf.sum(x, 3), tf.sum(x), tf.sum(x, [1, 2])];
  });
});

test('bf16 convolutions: fp32 results within bf16 rounding, gradients too; fp32 again after', { skip: skip || (load.addon && !load.addon.info().bf16 ? 'CPU without AVX512_BF16/AMX' : false) }, () => {
  const run = () => tf.tidy(() => {
    const x = normal([2, 12, 12, 8], 90) as tf.Tensor4D;
    const filter = normal([3, 3, 8, 16], 91) as tf.Tensor4D;
    const conv = (a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same');
    return [conv(x, filter), ...tf.grads((a: tf.Tensor, b: tf.Tensor) => weightedSum(conv(a, b), 92))([x, filter])]
      .map((t) => Float32Array.from(t.dataSync()));
  });
  tf.setBackend('onednn');
  const fp32 = run();
  setOnednnPrecision('bf16');
  const bf16 = run();
  setOnednnPrecision('fp32');
  const again = run();
  // bf16 keeps 8 bits of mantissa: sums of 72 products land within ~2% of the output scale
  fp32.forEach((expected, i) => assertClose(bf16[i], expected, `bf16 output ${i}`, 2e-2));
  assert.ok(fp32.some((expected, i) => expected.some((v, j) => v !== bf16[i][j])), 'bf16 results differ from fp32 somewhere');
  fp32.forEach((expected, i) => assert.deepEqual(again[i], expected, `fp32 after bf16, output ${i}`));
});

test("Adam (src/train/adam.ts): the fused HpcdlAdamUpdate kernel on onednn matches tf ops on cpu over several steps", { skip }, () => {
  const { Adam } = require('../../src/train/adam') as typeof import('../../src/train/adam');
  const { ADAM_UPDATE, hasKernel } = require('../../src/backend/fused-kernels') as typeof import('../../src/backend/fused-kernels');
  const runOn = (backend: string) => {
    tf.setBackend(backend);
    const variables = [tf.variable(normal([7, 5], 100)), tf.variable(normal([3], 101))];
    const adam = new Adam({ learningRate: 0.01, epsilon: 1e-3 });
    for (let step = 0; step < 4; step++) {
      const grads = variables.map((v, i) => normal(v.shape, 110 + 10 * step + i));
      adam.applyGradients(variables, grads);
      tf.dispose(grads);
    }
    const out = variables.map((v) => Float32Array.from(v.dataSync() as Float32Array));
    const fused = hasKernel(ADAM_UPDATE);
    adam.dispose();
    tf.dispose(variables);
    return { out, fused };
  };
  const cpu = runOn('cpu');
  const native = runOn('onednn');
  assert.equal(cpu.fused, false);
  assert.equal(native.fused, true);
  cpu.out.forEach((expected, i) => assertClose(native.out[i], expected, `Adam variable ${i}`, 1e-5));
});

test('conv block relu(conv + bias): values and gradients through HpcdlReluGrad and HpcdlConv2DBackpropFilterBias', { skip }, () => {
  const { convBiasRelu } = require('../../src/model/conv-block') as typeof import('../../src/model/conv-block');
  for (const pad of ['same', 'valid'] as const) {
    assertParity(`conv block ${pad}`, () => {
      const x = normal([3, 9, 8, 5], 120) as tf.Tensor4D;
      const filter = normal([3, 3, 5, 6], 121) as tf.Tensor4D;
      const bias = normal([6], 122) as tf.Tensor1D;
      const block = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => convBiasRelu(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor1D, pad);
      return [block(x, filter, bias), ...tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => weightedSum(block(a, b, c), 123))([x, filter, bias])];
    });
  }
  tf.setBackend('onednn');
  assert.ok(tf.getKernel('HpcdlReluGrad', 'onednn') && tf.getKernel('HpcdlConv2DBackpropFilterBias', 'onednn'));
  assert.equal(tf.getKernel('HpcdlReluGrad', 'cpu'), undefined);
});
