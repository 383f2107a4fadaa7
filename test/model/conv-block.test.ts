import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { initBackend } from '../../src/backend';
import { convBiasRelu } from '../../src/model/conv-block';

before(async () => {
  await initBackend({ force: 'wasm', log: () => undefined });
});

/** value and gradients of sum(r * relu(conv(x, w) + b)): fused op vs plain ops */
function compare(backend: string, pad: 'same' | 'valid'): void {
  tf.setBackend(backend);
  tf.tidy(() => {
    const x = tf.randomUniform([3, 9, 8, 4], -1, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 4, 5], -1, 1, 'float32', 2) as tf.Tensor4D;
    const b = tf.randomUniform([5], -0.5, 0.5, 'float32', 3) as tf.Tensor1D;
    const shape = tf.conv2d(x, w, 1, pad).shape;
    const r = tf.randomUniform(shape, -1, 1, 'float32', 4);
    const fused = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(convBiasRelu(xx as tf.Tensor4D, ww as tf.Tensor4D, bb as tf.Tensor1D, pad), r)));
    const plain = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(tf.relu(tf.add(tf.conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, 1, pad), bb)), r)));
    const a = fused([x, w, b]);
    const e = plain([x, w, b]);
    const yA = convBiasRelu(x, w, b, pad).dataSync();
    const yE = tf.relu(tf.add(tf.conv2d(x, w, 1, pad), b)).dataSync();
    for (let i = 0; i < yE.length; i++) assert.ok(Math.abs(yA[i] - yE[i]) < 1e-5, `${backend} ${pad} value ${i}`);
    ['x', 'filter', 'bias'].forEach((name, k) => {
      const av = a[k].dataSync();
      const ev = e[k].dataSync();
      let scale = 0;
      for (const v of ev) scale = Math.max(scale, Math.abs(v));
      assert.ok(scale > 0);
      for (let i = 0; i < ev.length; i++) {
        assert.ok(Math.abs(av[i] - ev[i]) <= 1e-4 * scale, `${backend} ${pad} d${name}[${i}]: ${av[i]} vs ${ev[i]}`);
      }
    });
  });
}

test('inputGradient: false gives zeros for x and the same filter and bias gradients', () => {
  tf.setBackend('wasm');
  tf.tidy(() => {
    const x = tf.randomUniform([2, 6, 6, 3], -1, 1, 'float32', 5) as tf.Tensor4D;
    const w = tf.randomUniform([3, 3, 3, 4], -1, 1, 'float32', 6) as tf.Tensor4D;
    const b = tf.zeros([4]) as tf.Tensor1D;
    const f = (grad: boolean) => tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(convBiasRelu(xx as tf.Tensor4D, ww as tf.Tensor4D, bb as tf.Tensor1D, 'same', { inputGradient: grad })))([x, w, b]);
    const [dxOff, dwOff, dbOff] = f(false);
    const [dxOn, dwOn, dbOn] = f(true);
    assert.ok(dxOff.dataSync().every((v) => v === 0));
    assert.ok(dxOn.dataSync().some((v) => v !== 0));
    assert.deepEqual(dwOff.dataSync(), dwOn.dataSync());
    assert.deepEqual(dbOff.dataSync(), dbOn.dataSync());
  });
});

for (const backend of ['cpu', 'wasm']) {
  for (const pad of ['same', 'valid'] as const) {
    test(`fused conv+bias+relu op: value and gradients equal the plain ops (${backend}, ${pad})`, () => compare(backend, pad));
  }
}
