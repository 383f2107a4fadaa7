/**
 * The data-parallel semantics of src/train (data-parallel.ts) with N ranks in
 * one process (LocalGroup): equivalence with one rank at the global batch,
 * broadcast of rank 0's state, learning-rate warm-up, validation over every
 * rank's events, setup checks. test/train-distributed runs them on engines.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/backend';
import { DataParallel, setupDifferences } from '../../src/train/data-parallel';
import { listCheckpoints } from '../../src/train/checkpoint';
import { trainUserModel, type UserRunConfig } from '../../src/train/user-training';
import type { TrainEvent } from '../../src/train/loop';
import { training as toyTraining } from '../train-distributed/toy-mlp';
import { localGroups } from './local-group';
import { tempDirMaker } from '../support/tmp';

before(async () => {
  await initBackend({ force: 'cpu', log: () => undefined });
});

const tmp = tempDirMaker();

/** Wrap the toy module so the test can read the final weights of each rank. */
function capturing(weights: Map<number, Float32Array[]>, initSeeds?: number[]) {
  return {
    ...toyTraining,
    async buildModel(ctx: Parameters<typeof toyTraining.buildModel>[0]) {
      const model = await toyTraining.buildModel({ ...ctx, seed: initSeeds?.[ctx.rank] ?? ctx.seed });
      const dispose = model.dispose.bind(model);
      model.dispose = () => {
        weights.set(ctx.rank, model.variables.map((v) => (v.dataSync() as Float32Array).slice()));
        dispose();
      };
      return model;
    },
  };
}

async function runRanks(size: number, config: UserRunConfig, extra: { lrScaling?: 'linear' | 'none'; seeds?: number[]; outputDir?: string } = {}) {
  const groups = size === 1 ? [undefined] : localGroups(size);
  const weights = new Map<number, Float32Array[]>();
  const events: TrainEvent[][] = groups.map(() => []);
  const outputDir = extra.outputDir ?? tmp();
  const results = await Promise.all(
    groups.map((group, rank) =>
      trainUserModel(capturing(weights, extra.seeds), {
        config,
        outputDir,
        group,
        lrScaling: extra.lrScaling ?? 'none',
        log: () => undefined,
        onEvent: (e) => events[rank].push(e),
      }),
    ),
  );
  return { results, weights, events, outputDir };
}

const config: UserRunConfig = { batchSize: 64, learningRate: 0.01, epochs: 2, events: 1024, seed: 3 };

test('2 ranks at batch B/2 reach the weights of 1 rank at batch B; every rank holds the same weights', async () => {
  const one = await runRanks(1, config);
  // different initial weights per rank: rank 0's must be broadcast for the runs to agree
  const two = await runRanks(2, config, { seeds: [3, 99] });
  assert.equal(one.results[0].globalStep, 32);
  assert.equal(two.results[0].globalStep, 32);
  const w1 = one.weights.get(0)!;
  const [a, b] = [two.weights.get(0)!, two.weights.get(1)!];
  a.forEach((t, i) => assert.deepEqual(t, b[i], `rank 0 and rank 1 hold bit-identical variable ${i}`));
  let maxDiff = 0;
  w1.forEach((t, i) => t.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - a[i][j])))));
  assert.ok(maxDiff < 1e-4, `max |w(1 rank, B) - w(2 ranks, B/2)| = ${maxDiff}`);
  assert.notDeepEqual(w1[0], (await toyTraining.buildModel({ rank: 0, size: 1, seed: 3, config })).variables[0].dataSync(), 'the weights moved');

  const steps = two.events[1].filter((e): e is Extract<TrainEvent, { type: 'step' }> => e.type === 'step');
  assert.equal(steps.length, 32);
  assert.ok(steps.every((s) => s.size === 2 && typeof s.commMs === 'number' && typeof s.rankLoss === 'number'));
  const globalLoss0 = two.events[0].filter((e) => e.type === 'step').map((e) => (e as { loss: number }).loss);
  assert.deepEqual(steps.map((s) => s.loss), globalLoss0, 'every rank reports the same averaged loss');
  const singleLoss = one.events[0].filter((e) => e.type === 'step').map((e) => (e as { loss: number }).loss);
  singleLoss.forEach((l, i) => assert.ok(Math.abs(l - globalLoss0[i]) < 1e-4, `step ${i + 1}: loss ${l} vs mean of ranks ${globalLoss0[i]}`));
  assert.equal(two.results[0].communication?.steps, 32);
});

test('validation metrics cover every rank\'s events (the same values on every rank as on one rank)', async () => {
  const one = await runRanks(1, config);
  const two = await runRanks(2, config);
  const v1 = one.results[0].history.map((h) => h.validation!);
  const [v20, v21] = two.results.map((r) => r.history.map((h) => h.validation!));
  assert.deepEqual(v20, v21);
  assert.equal(v20[0].events, 512, 'both halves of the validation set');
  v1.forEach((v, i) => {
    assert.equal(v.events, v20[i].events);
    assert.ok(Math.abs(v.auc - v20[i].auc) < 1e-3 && Math.abs(v.loss - v20[i].loss) < 1e-3, `epoch ${i}: ${JSON.stringify(v)} vs ${JSON.stringify(v20[i])}`);
  });
});

test('only rank 0 writes checkpoints and logs', async () => {
  const two = await runRanks(2, config);
  const models = path.join(two.outputDir, 'models');
  assert.equal(listCheckpoints(models).length, 2, 'one checkpoint per epoch, from rank 0');
  assert.deepEqual(fs.readdirSync(path.join(two.outputDir, 'logs')).sort(), ['metrics_rank0.jsonl', 'train_rank0.log']);
});

test('linear learning-rate scaling with a warm-up over steps or epochs', async () => {
  const [g] = localGroups(4);
  const dp = new DataParallel({ group: g, warmup: { steps: 10 } });
  const scale = dp.learningRateScale(100);
  assert.deepEqual([0, 5, 10, 50].map(scale), [1, 2.5, 4, 4]);
  const byEpochs = new DataParallel({ group: g }).learningRateScale(4); // default 5 epochs = 20 steps
  assert.deepEqual([0, 10, 20].map(byEpochs), [1, 2.5, 4]);
  assert.equal(new DataParallel({ group: g, lrScaling: 'none' }).learningRateScale(4)(100), 1);
  assert.throws(() => new DataParallel({ group: g, warmup: { epochs: -1 } }), /warmup must be/);

  const two = await runRanks(2, { ...config, epochs: 1 }, { lrScaling: 'linear' });
  const rates = two.events[0].filter((e) => e.type === 'step').map((e) => (e as { learningRate: number }).learningRate);
  assert.equal(rates[0], 0.01);
  assert.ok(rates[15] > rates[1] && rates[15] < 0.02, `warm-up: ${rates.slice(0, 16)}`);
});

test('ranks that disagree are refused, naming the field and the parameter', async () => {
  const groups = localGroups(2);
  const outputDir = tmp();
  const runs = groups.map((group, rank) =>
    trainUserModel(toyTraining, { config: { ...config, learningRate: rank === 0 ? 0.01 : 0.02 }, outputDir, group, log: () => undefined }),
  );
  const outcomes = await Promise.allSettled(runs);
  for (const o of outcomes) {
    assert.equal(o.status, 'rejected');
    assert.match(String((o as PromiseRejectedResult).reason), /config field "learningRate": rank 0 has 0\.01, rank 1 has 0\.02/);
  }
  const problems = setupDifferences([
    { shapes: { w: [3, 2] }, packageVersion: '0.1.0' },
    { shapes: { w: [3, 4] }, packageVersion: '0.2.0' },
  ]);
  assert.deepEqual(problems, ['package version: rank 0 has 0.1.0, rank 1 has 0.2.0', 'parameter w: rank 0 has shape [3,2], rank 1 has shape [3,4]']);
});

test('a restart resumes from rank 0\'s checkpoint on every rank', async () => {
  const straight = await runRanks(2, { ...config, epochs: 2 });
  const dir = tmp();
  await runRanks(2, { ...config, epochs: 1 }, { outputDir: dir });
  const groups = localGroups(2);
  const weights = new Map<number, Float32Array[]>();
  const results = await Promise.all(
    groups.map((group) => trainUserModel(capturing(weights), { config: { ...config, epochs: 2 }, outputDir: dir, group, resume: true, lrScaling: 'none', log: () => undefined })),
  );
  assert.equal(results[1].globalStep, 32);
  const final = straight.weights.get(0)!;
  for (const rank of [0, 1]) weights.get(rank)!.forEach((t, i) => assert.deepEqual(t, final[i], `rank ${rank} variable ${i} equals the uninterrupted run`));
});
