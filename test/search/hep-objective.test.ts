/**
 * The built-in HEP objective on real engines: 2-fold cross-validation over
 * the training files of a tiny synthetic data set, per-epoch val_auc reports,
 * checkpoints under the study directory, and the best trial re-evaluated on
 * the test split (AUC, ROC, standard-cuts point).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { foldBlocks, foldFiles, paramsToOverrides } from '../../cluster/search';
import { defaultConfigPath, loadConfig, synthesize } from '../../src';
import { tempDirMaker } from '../support/tmp';

let cluster: Cluster;
let data: string;

after(async () => {
  await cluster?.close();
});
// registered after the cluster's hook: the cluster stops before its directories are removed (removing them first can leave close() waiting)
const tempDir = tempDirMaker('hpcdl-hepsearch-');

before(async () => {
  data = path.join(tempDir(), 'data');
  await synthesize({ outDir: data, size: 64, events: 480, seed: 11, trainFiles: 4, log: () => undefined });
  cluster = await Cluster.start({ engines: 2, profileDir: tempDir(), output: 'none', log: () => undefined });
});

test('fold blocks follow sklearn KFold; each fold holds out one block of training files', () => {
  assert.deepEqual(foldBlocks(5, 2), [[0, 3], [3, 5]]);
  assert.deepEqual(foldBlocks(4, 2), [[0, 2], [2, 4]]);
  assert.throws(() => foldBlocks(1, 2), /needs at least 2 training files, there are 1/);
  const f0 = foldFiles(data, 0, 2);
  const f1 = foldFiles(data, 1, 2);
  assert.deepEqual(f0.val, f1.train);
  assert.deepEqual(f1.val, f0.train);
  assert.equal(f0.test.length, 1);
  assert.throws(() => foldFiles(data, 0, 5), /5-fold cross-validation needs at least 5 training files; .* has 4/);
});

test('params map onto config fields; an unknown one is named', () => {
  const config = loadConfig(defaultConfigPath(), { warn: () => undefined });
  assert.deepEqual(paramsToOverrides({ learning_rate: 0.01, num_filters: 8, num_fc_units: 32, dropout: 0.25, batch_size: 16 }, config), {
    learning_rate: 0.01,
    'conv_params.num_filters': 8,
    num_fc_units: 32,
    dropout_p: 0.75,
    train_batch_size: 16,
  });
  assert.throws(() => paramsToOverrides({ wobble: 1 }, config), /param "wobble" is not a HEP config field/);
});

test('a 2-fold HEP search trains each fold on its own files, scores the mean, and the best re-evaluates on the test split', { timeout: 300_000 }, async () => {
  const dir = path.join(tempDir(), 'study');
  const study = cluster.search({
    space: { learning_rate: { type: 'float', low: 1e-3, high: 5e-3, log: true }, num_filters: { type: 'categorical', choices: [4, 8] } },
    objective: { config: defaultConfigPath(), inputPath: data, overrides: { num_epochs: 2, train_batch_size: 32, validation_batch_size: 64, display_interval: 100 } },
    algorithm: 'random',
    trials: 2,
    folds: 2,
    seed: 5,
    dir,
    chance: null,
    display: false,
  });
  const trials = await study;
  assert.equal(study.metric, 'val_auc');
  assert.equal(study.direction, 'max');
  for (const t of trials) {
    assert.equal(t.state, 'complete', `trial ${t.id}: ${t.error}`);
    assert.equal(t.folds?.length, 2, 'one score per fold');
    assert.ok(Math.abs(t.value! - (t.folds![0] + t.folds![1]) / 2) < 1e-12, 'the score is the fold mean');
    for (const f of t.folds!) assert.ok(f >= 0 && f <= 1, `fold AUC in [0, 1]: ${f}`);
    assert.deepEqual(t.reports.map((r) => r.step), [1, 2], 'the mean over folds reported once per epoch');
    for (let fold = 0; fold < 2; fold++) {
      const foldDir = path.join(dir, `trial-${t.id}`, `fold-${fold}`);
      const links = fs.readdirSync(path.join(foldDir, 'data')).sort();
      assert.deepEqual(links, ['test-000.h5', 'train-000.h5', 'train-001.h5', 'val-000.h5', 'val-001.h5']);
      assert.ok(fs.readdirSync(path.join(foldDir, 'models')).some((f) => /^ckpt-\d+\.json$/.test(f)), 'a checkpoint per fold');
    }
  }
  const best = study.best()!;
  const evaluation = await best.evaluate('test');
  assert.equal(evaluation.events, 48, 'the whole test split (10% of 480)');
  assert.ok(evaluation.weighted.auc >= 0 && evaluation.weighted.auc <= 1);
  assert.equal(evaluation.roc.fpr.length, evaluation.roc.tpr.length);
  assert.equal(evaluation.roc.fpr[0], 0);
  assert.equal(evaluation.roc.fpr[evaluation.roc.fpr.length - 1], 1);
  assert.ok(fs.existsSync(evaluation.reportPath), 'the ROC report of infer');
  assert.match(evaluation.checkpoint, new RegExp(`trial-${best.id}`));

  // the default config, trained once outside the study, for comparison
  const baseline = await study.baseline();
  assert.ok(baseline.value >= 0 && baseline.value <= 1, `baseline val_auc ${baseline.value}`);
  const baseEval = await baseline.evaluate('test');
  assert.equal(baseEval.events, 48);
  assert.match(baseEval.checkpoint, /baseline/);
  assert.equal(study.trials.length, 2, 'the baseline is no trial of the study');
});
