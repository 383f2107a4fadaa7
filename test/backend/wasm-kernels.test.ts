import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../src/backend';
import { setFilterGradChunk } from '../../src/backend/wasm';

before(async () => {
  await initBackend({ force: 'wasm', log: () => undefined });
});

after(() => {
  setFilterGradChunk(16384, 16);
  tf.setBackend('wasm');
});

/** Runs f on cpu and on wasm with the same seeded inputs; returns both results flattened. */
function onBoth(f: () => tf.Tensor | tf.Tensor[]): [Float32Array[], Float32Array[]] {
  const runOn = (backend: string) => {
    tf.setBackend(backend);
    return tf.tidy(() => {
      const out = f();
      return (Array.isArray(out) ? out : [out]).map((t) => t.dataSync() as Float32Array);
    });
  };
  return [runOn('cpu'), runOn('wasm')];
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string, rel = 1e-4): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0, `${what}: all zeros`);
  for (let i = 0; i < expected.length; i++) {
    if (Math.abs(actual[i] - expected[i]) > rel * scale) {
      assert.fail(`${what}: element ${i} wasm ${actual[i]} vs cpu ${expected[i]} (scale ${scale})`);
    }
  }
}

const u = (shape: number[], seed: number) => tf.randomUniform(shape, -1, 1, 'float32', seed);

test('matMul with every transpose combination, 2-D and batched, equals cpu (values and gradients)', () => {
  for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
    for (const batch of [[], [3]]) {
      const [cpu, wasm] = onBoth(() => {
        const a = u([...batch, ...(ta ? [7, 5] : [5, 7])], 1);
        const b = u([...batch, ...(tb ? [6, 7] : [7, 6])], 2);
        const r = u([...batch, 5, 6], 3);
        const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, ta, tb), r)))([a, b]);
        return [tf.matMul(a, b, ta, tb), da, db];
      });
      cpu.forEach((c, i) => assertClose(wasm[i], c, `matMul ta=${ta} tb=${tb} batch=${batch} output ${i}`));
    }
  }
});

test('maxPool gradient (2x2/2 same and valid, 3x3/2, ties) equals cpu', () => {
  const cases: [number, number, 'same' | 'valid', number[]][] = [
    [2, 2, 'same', [2, 7, 7, 5]],
    [2, 2, 'valid', [2, 7, 6, 5]],
    [3, 2, 'same', [1, 9, 8, 4]],
    [2, 2, 'same', [2, 8, 8, 3]],
  ];
  for (const [size, stride, pad, shape] of cases) {
    const [cpu, wasm] = onBoth(() => {
      // relu creates ties at 0, rounding creates ties elsewhere
      const x = tf.relu(tf.round(tf.mul(u(shape, 4), 3)));
      const y = tf.maxPool(x as tf.Tensor4D, size, stride, pad);
      const r = u(y.shape, 5);
      return tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xx as tf.Tensor4D, size, stride, pad), r)))(x);
    });
    assertClose(wasm[0], cpu[0], `maxPool grad ${size}/${stride} ${pad} ${shape}`);
  }
});

test('sum over leading axes (bias gradients) and other reductions equal cpu', () => {
  const [cpu, wasm] = onBoth(() => {
    const x = u([4, 5, 6, 7], 6);
    const big = u([9, 17, 13, 6], 14); // 1989 rows: odd counts while folding
    return [tf.sum(x, [0, 1, 2]), tf.sum(x, [0]), tf.sum(x, [0, 1], true), tf.sum(x, [1, 2]), tf.sum(x), tf.sum(x, -1), tf.sum(big, [0, 1, 2])];
  });
  cpu.forEach((c, i) => assertClose(wasm[i], c, `sum case ${i}`, 1e-5));
});

test('filter gradient in chunks equals cpu: im2col path (few channels) and batch-as-channels path', () => {
  const settings: [number, number, number][] = [
    // [chunk elements, min images per chunk, input channels]
    [128, 1, 3], // im2col, rows divisible by the chunk
    [100, 1, 3], // im2col, ragged last chunk
    [128, 1, 16], // batch-as-channels, chunks of 2 images
    [16384, 16, 16], // batch-as-channels, one chunk
  ];
  for (const [elements, minImages, cin] of settings) {
    setFilterGradChunk(elements, minImages);
    for (const pad of ['same', 'valid'] as const) {
      const [cpu, wasm] = onBoth(() => {
        const x = u([6, 8, 8, cin], 7) as tf.Tensor4D;
        const w = u([3, 3, cin, 4], 8) as tf.Tensor4D;
        const r = u(tf.conv2d(x, w, 1, pad).shape, 9);
        return tf.grad((ww: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, ww as tf.Tensor4D, 1, pad), r)))(w);
      });
      assertClose(wasm[0], cpu[0], `filter gradient ${pad} chunk ${elements} cin ${cin}`);
    }
  }
  setFilterGradChunk(16384, 16);
});

test('Identity and same-dtype Cast share the buffer; other casts convert', () => {
  tf.setBackend('wasm');
  const x = tf.tensor1d([1.5, -2, 3]);
  const c = tf.cast(x, 'float32');
  const i = tf.clone(x);
  // shared: the same backend buffer (a copy would get a data id of its own)
  assert.equal(c.dataId, x.dataId, 'same-dtype Cast shares the buffer');
  assert.equal(i.dataId, x.dataId, 'Identity (clone) shares the buffer');
  x.dispose();
  // the buffer outlives the input it came from
  assert.deepEqual(Array.from(c.dataSync()), [1.5, -2, 3]);
  assert.deepEqual(Array.from(i.dataSync()), [1.5, -2, 3]);
  const n = tf.cast(c, 'int32');
  assert.notEqual(n.dataId, c.dataId, 'a converting Cast writes a new buffer');
  assert.deepEqual(Array.from(n.dataSync()), [1, -2, 3]);
  tf.dispose([c, i, n]);
});

test('fused conv2d + bias + relu gradients (the HEP CNN block) equal cpu', () => {
  const [cpu, wasm] = onBoth(() => {
    const x = u([3, 10, 10, 3], 10) as tf.Tensor4D;
    const w = u([3, 3, 3, 6], 11) as tf.Tensor4D;
    const b = u([6], 12) as tf.Tensor1D;
    const r = u([3, 5, 5, 6], 13);
    const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(tf.maxPool(tf.fused.conv2d({ x: xx as tf.Tensor4D, filter: ww as tf.Tensor4D, bias: bb, activation: 'relu', strides: 1, pad: 'same' }), 2, 2, 'same'), r));
    return tf.grads(f)([x, w, b]);
  });
  cpu.forEach((c, i) => assertClose(wasm[i], c, `fused block gradient ${i}`));
});

test('the cpu backend keeps its own kernels', () => {
  const cpuFilter = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  assert.ok(cpuFilter, 'cpu Conv2DBackpropFilter exists');
  assert.ok(!/chunkedBatchAsChannelsConv|releaseView/.test(String(cpuFilter.kernelFunc)));
  const wasmFilter = tf.getKernel('Conv2DBackpropFilter', 'wasm');
  assert.ok(wasmFilter, 'wasm Conv2DBackpropFilter registered by hpcdl');
});
