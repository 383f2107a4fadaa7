import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend';
import { Adam } from '../../src/train/adam';
import { listCheckpoints, readManifest } from '../../src/train/checkpoint';
import { trainLoop, type TrainEvent } from '../../src/train/loop';
import { ChannelMeanModel, MemorySource, variableValues } from './support';
import { tempDirMaker } from '../support/tmp';

before(async () => {
  await initBackend({ force: 'cpu', log: () => undefined });
});

const tmp = tempDirMaker();

test('a custom model trains through the generic loop, with the seed log lines and events', async () => {
  const model = new ChannelMeanModel();
  const lines: string[] = [];
  const events: TrainEvent[] = [];
  const train = new MemorySource(16, 160);
  const result = await trainLoop({
    model,
    train,
    validation: new MemorySource(32, 64, 'NHWC', 4, 99),
    optimizer: new Adam({ learningRate: 0.05 }),
    epochs: 3,
    displayInterval: 4,
    log: (l) => lines.push(l),
    onEvent: (e) => events.push(e),
  });
  assert.equal(result.globalStep, 30);
  assert.equal(result.history.length, 3);
  assert.ok(result.history[2].trainLoss < result.history[0].trainLoss, 'training loss goes down');
  assert.ok(result.history[2].validation!.auc > 0.9, `validation AUC ${result.history[2].validation!.auc}`);

  const report = lines.filter((l) => l.includes(' REPORT '));
  assert.equal(report.length, 7); // steps 4, 8, ..., 28
  assert.match(report[0], /^\d+\.\d{2} REPORT rank 0 global step 4\., average training loss [\d.e+-]+ \(\d+\.\d{3} sec\/batch\)$/);
  const completed = lines.filter((l) => / COMPLETED rank 0 epoch \d+, average training loss [\d.e+-]+ \(\d+\.\d{3} sec\/batch\)$/.test(l));
  assert.equal(completed.length, 3);
  for (const metric of ['loss', 'accu', 'auc']) {
    assert.equal(lines.filter((l) => new RegExp(`^\\d+\\.\\d{2} COMPLETED epoch \\d, average validation ${metric} [\\d.e+-]+$`).test(l)).length, 3, metric);
  }
  assert.ok(lines.includes('Rank 0 : starting training using ADAM optimizer'));
  assert.match(lines.find((l) => l.startsWith('Total time to batch_process:'))!, /^Total time to batch_process: \d+\.\d{4}$/);
  assert.match(lines.find((l) => l.includes('except first iteration'))!, /throughput: \d+\.\d{4}$/);
  assert.match(lines.find((l) => l.includes('except first two iterations'))!, /^Total time to batch process except first two iterations: \d+\.\d{4}, throughput: \d+\.\d{4}$/);
  assert.ok(lines.some((l) => l.startsWith('Total time to batch process last 40 iterations')) === false, 'only 30 iterations: no last-40 line');
  const finished = /^FINISHED Training\. Total time ([\d.e+-]+)$/.exec(lines[lines.length - 1]);
  assert.ok(finished && Number(finished[1]) > 0, `positive total time: ${lines[lines.length - 1]}`);

  assert.equal(events.filter((e) => e.type === 'step').length, 30);
  assert.equal(events.filter((e) => e.type === 'epoch').length, 3);
  const validation = events.filter((e) => e.type === 'validation');
  assert.equal(validation.length, 3);
  assert.deepEqual(events[0].type, 'start');
  assert.deepEqual(events[events.length - 1].type, 'done');
  const step = events.find((e) => e.type === 'step' && e.step === 5);
  assert.ok(step && step.type === 'step' && step.learningRate === 0.05 && step.loss > 0 && step.imagesPerSec > 0);
  model.dispose();
});

test('more than 40 iterations print the last-40 throughput line', async () => {
  const lines: string[] = [];
  await trainLoop({ model: new ChannelMeanModel(), train: new MemorySource(4, 200), epochs: 1, log: (l) => lines.push(l) });
  assert.match(lines.find((l) => l.includes('last 40 iterations'))!, /^Total time to batch process last 40 iterations: \d+\.\d{4}, throughput: \d+\.\d{4}$/);
});

test('the loop transposes batches to the layout the model wants', async () => {
  const model = new ChannelMeanModel();
  const result = await trainLoop({
    model,
    train: new MemorySource(16, 128, 'NCHW'),
    validation: new MemorySource(32, 64, 'NCHW', 4, 99),
    optimizer: new Adam({ learningRate: 0.05 }),
    epochs: 2,
    log: () => undefined,
  });
  assert.ok(result.history[1].validation!.auc > 0.9, 'channel 0 is still found after NCHW → NHWC');
});

async function runFor(epochs: number, dir: string, opts: { resume?: boolean; maxSteps?: number; interval?: number } = {}) {
  const model = new ChannelMeanModel();
  const resumeFrom = opts.resume ? listCheckpoints(dir).at(-1) : undefined;
  const result = await trainLoop({
    model,
    train: new MemorySource(16, 96),
    optimizer: new Adam({ learningRate: { mode: 'piecewise', learning_rate_params: { '0': 0.05, '8': 0.01 } } }),
    epochs,
    maxSteps: opts.maxSteps,
    checkpoint: { dir, interval: opts.interval, configHash: 'test' },
    resumeFrom,
    log: () => undefined,
  });
  const values = await variableValues(model.variables);
  model.dispose();
  return { result, values };
}

test('checkpoints every epoch; a restart resumes at the right step with identical weights', async () => {
  const straight = await runFor(3, tmp());
  const dir = tmp();
  const first = await runFor(1, dir);
  const manifests = listCheckpoints(dir);
  assert.equal(manifests.length, 1);
  const manifest = readManifest(manifests[0]);
  assert.equal(manifest.step, 6);
  assert.equal(manifest.epoch, 0);
  assert.equal(manifest.epochComplete, true);
  assert.deepEqual(manifest.variables.map((v) => v.shape), [[3, 2], [2]]);
  assert.equal(manifest.optimizer?.step, 6);
  assert.ok(fs.existsSync(path.join(dir, manifest.weightsFile)));
  assert.ok(typeof manifest.metrics?.train_loss === 'number');
  assert.notDeepEqual(first.values, straight.values);

  const resumed = await runFor(3, dir, { resume: true });
  assert.equal(resumed.result.globalStep, 18);
  assert.equal(resumed.result.history[0].epoch, 1, 'resumes with the second epoch');
  assert.deepEqual(resumed.values, straight.values, 'identical to an uninterrupted run (weights and Adam moments restored)');
  assert.deepEqual(listCheckpoints(dir).map((f) => path.basename(f)), ['ckpt-00000006.json', 'ckpt-00000012.json', 'ckpt-00000018.json']);
});

test('a mid-epoch checkpoint (checkpoint_interval) resumes inside the epoch', async () => {
  const straight = await runFor(2, tmp());
  const dir = tmp();
  const stopped = await runFor(2, dir, { maxSteps: 4, interval: 4 });
  assert.equal(stopped.result.globalStep, 4);
  assert.equal(stopped.result.stoppedEarly, true);
  const manifest = readManifest(listCheckpoints(dir).at(-1)!);
  assert.equal(manifest.step, 4);
  assert.equal(manifest.stepInEpoch, 4);
  assert.equal(manifest.epochComplete, false);
  const resumed = await runFor(2, dir, { resume: true, interval: 4 });
  assert.equal(resumed.result.globalStep, 12);
  assert.deepEqual(resumed.values, straight.values);
});

test('reduceGradients sees every step and its result is what gets applied', async () => {
  const model = new ChannelMeanModel();
  const before = await variableValues(model.variables);
  let calls = 0;
  await trainLoop({
    model,
    train: new MemorySource(16, 64),
    epochs: 1,
    log: () => undefined,
    reduceGradients: async (grads) => {
      calls++;
      return grads.map((g) => tf.zerosLike(g));
    },
  });
  assert.equal(calls, 4);
  assert.deepEqual(await variableValues(model.variables), before, 'zeroed gradients leave the weights unchanged');
});

test('weights: unweighted by default, normweight when asked', async () => {
  const seen: number[][] = [];
  const loss = (logits: tf.Tensor2D, _labels: tf.Tensor1D, weights: tf.Tensor1D) => {
    seen.push(Array.from(weights.dataSync()));
    return tf.mean(logits) as tf.Scalar;
  };
  class Weighted extends MemorySource {
    override async next() {
      const b = await super.next();
      if (b) b.normweight.fill(2.5);
      return b;
    }
  }
  await trainLoop({ model: new ChannelMeanModel(), train: new Weighted(8, 8), epochs: 1, loss, log: () => undefined });
  await trainLoop({ model: new ChannelMeanModel(), train: new Weighted(8, 8), epochs: 1, loss, useWeights: true, log: () => undefined });
  assert.deepEqual(seen[0], new Array(8).fill(1));
  assert.deepEqual(seen[1], new Array(8).fill(2.5));
});

test('no tensors leak: after training only the Adam moments remain', async () => {
  const model = new ChannelMeanModel();
  const optimizer = new Adam({ learningRate: 0.01 });
  const before = tf.memory().numTensors;
  await trainLoop({ model, train: new MemorySource(8, 64), validation: new MemorySource(16, 32), optimizer, epochs: 2, log: () => undefined });
  assert.equal(tf.memory().numTensors - before, 2 * model.variables.length);
  optimizer.dispose();
  model.dispose();
});

test('batches are handed back to sources that recycle them', async () => {
  class Recycling extends MemorySource {
    recycled = 0;
    recycle(): void {
      this.recycled++;
    }
  }
  const train = new Recycling(16, 64);
  const validation = new Recycling(16, 32);
  await trainLoop({ model: new ChannelMeanModel(), train, validation, epochs: 2, log: () => undefined });
  assert.equal(train.recycled, 8);
  assert.equal(validation.recycled, 4);
});

test('an abort signal stops after the current step with a checkpoint; resuming matches an uninterrupted run', async () => {
  const straight = await runFor(2, tmp());
  const dir = tmp();
  const controller = new AbortController();
  const model = new ChannelMeanModel();
  const lines: string[] = [];
  const result = await trainLoop({
    model,
    train: new MemorySource(16, 96),
    optimizer: new Adam({ learningRate: { mode: 'piecewise', learning_rate_params: { '0': 0.05, '8': 0.01 } } }),
    epochs: 2,
    checkpoint: { dir, configHash: 'test' },
    signal: controller.signal,
    log: (l) => lines.push(l),
    onEvent: (e) => {
      if (e.type === 'step' && e.step === 3) controller.abort();
    },
  });
  model.dispose();
  assert.equal(result.interrupted, true);
  assert.equal(result.globalStep, 3);
  assert.ok(lines.includes('Rank 0 : interrupted at global step 3 (epoch 1, batch 3)'));
  assert.ok(!lines.some((l) => l.includes('COMPLETED')), 'an interrupted epoch is not reported as completed');
  assert.match(lines[lines.length - 1], /^INTERRUPTED Training at global step 3\. Total time /, 'an interrupted run is not reported as finished');
  assert.ok(!lines.some((l) => l.startsWith('FINISHED Training')));
  const manifest = readManifest(listCheckpoints(dir).at(-1)!);
  assert.deepEqual([manifest.step, manifest.stepInEpoch, manifest.epochComplete], [3, 3, false]);
  const resumed = await runFor(2, dir, { resume: true });
  assert.deepEqual(resumed.values, straight.values);
});

test('validationMaxBatches limits the v2 evaluations (interval and epoch summary), not the v1 epoch pass', async () => {
  const events: TrainEvent[] = [];
  await trainLoop({
    model: new ChannelMeanModel(),
    train: new MemorySource(16, 32),
    validation: new MemorySource(8, 64),
    validationInterval: 1,
    validationMaxBatches: 3,
    epochs: 1,
    log: () => undefined,
    onEvent: (e) => events.push(e),
  });
  const v = events.filter((e) => e.type === 'validation');
  assert.deepEqual(v.map((e) => e.type === 'validation' && e.events), [64], 'the v1 pass reads the whole source');
  const evaluations = events.filter((e): e is Extract<TrainEvent, { type: 'evaluation' }> => e.type === 'evaluation');
  assert.ok(evaluations.length >= 2, 'a report per step and an epoch summary');
  assert.ok(evaluations.every((e) => e.events === 24), 'v2 evaluations read 3 batches of 8');
  assert.equal(evaluations.at(-1)!.kind, 'epoch summary');
});
