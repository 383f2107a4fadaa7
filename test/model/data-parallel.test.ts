import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend';
import { buildHepCnn, DataParallelGradients, weightedSoftmaxCrossEntropy } from '../../src/model';
import { tinyConfig } from './configs';

before(async () => {
  await initBackend({ log: () => undefined });
});

for (const [threads, imagesPerPass] of [[2, undefined], [2, 2], [1, 3]] as const) {
test(`data-parallel gradients (${threads} threads, ${imagesPerPass ?? 'default'} images per pass) equal tf.variableGrads of the whole batch`, async () => {
  const model = buildHepCnn(tinyConfig({ dropout_p: 1 }, 'NCHW'), { seed: 21 });
  const parallel = await DataParallelGradients.create(model, { threads, imagesPerPass });
  try {
    assert.equal(parallel.threads, threads);
    const batch = 7; // uneven shards (4 + 3)
    const images = tf.randomUniform([batch, 3, 12, 12], 0, 1, 'float32', 5) as tf.Tensor4D;
    const labels = tf.tensor1d([0, 1, 1, 0, 1, 0, 1], 'int32');
    const weights = tf.tensor1d([1, 0.5, 0, 2, 1, 1, 0]);
    for (let round = 0; round < 2; round++) {
      const expected = tf.variableGrads(() => weightedSoftmaxCrossEntropy(model.logits(images, true), labels, weights), model.variables);
      const actual = await parallel.compute(images, labels, weights);
      assert.ok(Math.abs(actual.value.dataSync()[0] - expected.value.dataSync()[0]) < 1e-5, 'loss');
      for (const variable of model.variables) {
        const e = expected.grads[variable.name].dataSync();
        const a = actual.grads[variable.name].dataSync();
        let scale = 1e-6;
        for (const v of e) scale = Math.max(scale, Math.abs(v));
        for (let i = 0; i < e.length; i++) assert.ok(Math.abs(a[i] - e[i]) <= 1e-4 * scale, `${variable.name}[${i}]: ${a[i]} vs ${e[i]}`);
      }
      // the replica follows the main model's weights: change them and compare again
      tf.tidy(() => model.variables[0].assign(tf.mul(model.variables[0], 1.5)));
      tf.dispose([expected.value, ...Object.values(expected.grads), actual.value, ...Object.values(actual.grads)]);
    }
  } finally {
    await parallel.dispose();
    model.dispose();
  }
});
}
