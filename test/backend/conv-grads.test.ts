import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../src/backend';

before(async () => {
  await initBackend({ force: 'wasm', log: () => undefined });
});

interface Case {
  batch: number; size: [number, number]; cin: number; cout: number; k: number;
  stride: number | [number, number]; pad: 'same' | 'valid';
}

function seeded(shape: number[], seed: number): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32', seed);
}

/** x, filter gradient and input gradient of sum(conv(x, w) * r) on the active backend. */
function gradsOn(backend: string, c: Case, seed: number): Float32Array[] {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const x = seeded([c.batch, c.size[0], c.size[1], c.cin], seed) as tf.Tensor4D;
    const w = seeded([c.k, c.k, c.cin, c.cout], seed + 1) as tf.Tensor4D;
    const probe = tf.conv2d(x, w, c.stride, c.pad);
    const r = seeded(probe.shape, seed + 2);
    const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.stride, c.pad), r)));
    const [dx, dw] = g([x, w]);
    return [tf.conv2d(x, w, c.stride, c.pad).dataSync() as Float32Array, dx.dataSync() as Float32Array, dw.dataSync() as Float32Array];
  });
}

function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  assert.ok(scale > 0, `${what}: expected gradient is all zeros`);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (err > 1e-4 * scale + 1e-4 * Math.abs(expected[i])) {
      assert.fail(`${what}: element ${i} wasm ${actual[i]} vs cpu ${expected[i]} (scale ${scale})`);
    }
  }
}

const cases: Case[] = [];
for (const stride of [1, 2] as const) {
  for (const pad of ['same', 'valid'] as const) {
    for (const size of [[7, 7], [8, 8], [9, 6]] as [number, number][]) {
      for (const cin of [1, 3]) cases.push({ batch: 2, size, cin, cout: 4, k: 3, stride, pad });
    }
  }
}
cases.push({ batch: 3, size: [10, 9], cin: 3, cout: 5, k: 4, stride: 2, pad: 'same' });
cases.push({ batch: 2, size: [12, 11], cin: 2, cout: 3, k: 5, stride: 3, pad: 'valid' });
cases.push({ batch: 2, size: [9, 10], cin: 3, cout: 2, k: 3, stride: [1, 2], pad: 'same' });
cases.push({ batch: 4, size: [16, 16], cin: 8, cout: 8, k: 3, stride: 1, pad: 'same' });

for (const [i, c] of cases.entries()) {
  const name = `conv2d grads wasm == cpu: ${c.size.join('x')} cin ${c.cin} k ${c.k} stride ${c.stride} ${c.pad}`;
  test(name, () => {
    const [yCpu, dxCpu, dwCpu] = gradsOn('cpu', c, 100 + i);
    const [yWasm, dxWasm, dwWasm] = gradsOn('wasm', c, 100 + i);
    assertClose(yWasm, yCpu, 'forward');
    assertClose(dxWasm, dxCpu, 'input gradient');
    assertClose(dwWasm, dwCpu, 'filter gradient');
  });
}
