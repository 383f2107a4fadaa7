import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import {
  StreamingBinaryMetrics,
  rocAuc,
  rocAucThresholds,
  rocCurve,
  selectionEfficiencies,
  signalEfficiencyAt,
  tfAucThresholds,
  weightedAccuracy,
} from '../../src/metrics';

interface Case {
  labels: number[];
  scores: number[];
  weights: number[] | null;
  num_thresholds?: number;
}
interface Reference {
  auc: number;
  fpr: number[];
  tpr: number[];
  thresholds: number[];
  accuracy: number;
  tf_auc: number;
}

/** mulberry32: small deterministic generator so the cases are reproducible */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Scores correlated with the label and quantised to `levels` values, so many ties. */
function makeCase(seed: number, n: number, levels: number, weighted: 'none' | 'random' | 'with-zeros'): Case {
  const rand = rng(seed);
  const labels: number[] = [];
  const scores: number[] = [];
  const weights: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = rand() < 0.4 ? 1 : 0;
    const raw = Math.min(1, Math.max(0, 0.5 * rand() + 0.35 * y + 0.1 * rand()));
    labels.push(y);
    scores.push(Math.round(raw * levels) / levels);
    const w = weighted === 'with-zeros' && rand() < 0.15 ? 0 : 0.1 + 3 * rand();
    weights.push(w);
  }
  return { labels, scores, weights: weighted === 'none' ? null : weights };
}

function sklearnReference(cases: Case[]): Reference[] {
  const script = path.join(__dirname, 'sklearn_reference.py');
  const out = execFileSync('/usr/bin/python3', [script], { input: JSON.stringify(cases), maxBuffer: 1 << 28 });
  return JSON.parse(out.toString()) as Reference[];
}

const cases: Case[] = [
  makeCase(1, 2000, 20, 'random'),
  makeCase(2, 2000, 7, 'with-zeros'),
  makeCase(3, 3000, 1000, 'none'),
  makeCase(4, 500, 3, 'random'),
  makeCase(5, 4000, 100000, 'with-zeros'),
  { labels: [0, 1, 1, 0, 1, 0], scores: [0.5, 0.5, 0.5, 0.5, 0.9, 0.1], weights: [1, 2, 0.5, 3, 1, 1] },
];
const reference = sklearnReference(cases);

test('rocAuc equals sklearn roc_auc_score to 1e-9 (ties, weights, zero weights)', () => {
  cases.forEach((c, k) => {
    const auc = rocAuc(c.labels, c.scores, c.weights);
    assert.ok(Math.abs(auc - reference[k].auc) < 1e-9, `case ${k}: ${auc} vs sklearn ${reference[k].auc}`);
  });
});

test('rocCurve matches sklearn roc_curve(drop_intermediate=False) point for point', () => {
  cases.forEach((c, k) => {
    const roc = rocCurve(c.labels, c.scores, c.weights);
    const ref = reference[k];
    assert.equal(roc.fpr.length, ref.fpr.length, `case ${k}: number of points`);
    for (let i = 0; i < ref.fpr.length; i++) {
      assert.ok(Math.abs(roc.fpr[i] - ref.fpr[i]) < 1e-12, `case ${k} fpr[${i}]`);
      assert.ok(Math.abs(roc.tpr[i] - ref.tpr[i]) < 1e-12, `case ${k} tpr[${i}]`);
      assert.ok(Math.abs(roc.thresholds[i] - ref.thresholds[i]) < 1e-12, `case ${k} thresholds[${i}]`);
    }
  });
});

test('rocCurve accepts typed arrays (Int32Array labels, Float32Array scores)', () => {
  const c = cases[0];
  const scores32 = Float32Array.from(c.scores);
  const [ref] = sklearnReference([{ labels: c.labels, scores: Array.from(scores32), weights: c.weights }]);
  const auc = rocAuc(Int32Array.from(c.labels), scores32, Float64Array.from(c.weights!));
  assert.ok(Math.abs(auc - ref.auc) < 1e-9);
});

test('weightedAccuracy equals sklearn accuracy_score(sample_weight) at 0.5', () => {
  cases.forEach((c, k) => {
    const acc = weightedAccuracy(c.labels, c.scores, c.weights);
    assert.ok(Math.abs(acc - reference[k].accuracy) < 1e-12, `case ${k}: ${acc} vs ${reference[k].accuracy}`);
  });
  // a score of exactly 0.5 predicts 0, as TF's round-half-to-even does
  assert.equal(weightedAccuracy([0, 1], [0.5, 0.5]), 0.5);
  assert.equal(weightedAccuracy([1, 1, 0], [0.9, 0.2, 0.1], [1, 3, 1]), 0.4);
});

test('rocAucThresholds reproduces TF1 tf.metrics.auc(num_thresholds=5000) (numpy re-implementation)', () => {
  cases.forEach((c, k) => {
    const auc = rocAucThresholds(c.labels, c.scores, c.weights);
    assert.ok(Math.abs(auc - reference[k].tf_auc) < 1e-9, `case ${k}: ${auc} vs ${reference[k].tf_auc}`);
  });
  // with few thresholds the discretised AUC differs from the exact one
  const coarse = { ...cases[2], num_thresholds: 7 };
  const [ref] = sklearnReference([coarse]);
  const auc7 = rocAucThresholds(coarse.labels, coarse.scores, coarse.weights, 7);
  assert.ok(Math.abs(auc7 - ref.tf_auc) < 1e-9, `${auc7} vs ${ref.tf_auc}`);
  assert.ok(Math.abs(auc7 - ref.auc) > 1e-3, 'coarse grid should not equal the exact AUC');
});

test('tfAucThresholds has the epsilon ends and the linear interior', () => {
  const grid = tfAucThresholds(5000);
  assert.equal(grid.length, 5000);
  assert.equal(grid[0], Math.fround(-1e-7));
  assert.equal(grid[4999], Math.fround(1 + 1e-7));
  assert.equal(grid[1], Math.fround(1 / 4999));
  assert.equal(grid[4998], Math.fround(4998 / 4999));
  assert.deepEqual(Array.from(tfAucThresholds(4)), [-1e-7, 1 / 3, 2 / 3, 1 + 1e-7].map(Math.fround));
});

test('signalEfficiencyAt interpolates on the ROC and takes the top of vertical segments', () => {
  const roc = { fpr: Float64Array.from([0, 0, 0.2, 0.2, 1]), tpr: Float64Array.from([0, 0.3, 0.5, 0.8, 1]) };
  assert.equal(signalEfficiencyAt(roc, 0), 0.3);
  assert.ok(Math.abs(signalEfficiencyAt(roc, 0.1) - 0.4) < 1e-15);
  assert.equal(signalEfficiencyAt(roc, 0.2), 0.8);
  assert.ok(Math.abs(signalEfficiencyAt(roc, 0.6) - 0.9) < 1e-15);
  assert.equal(signalEfficiencyAt(roc, 1), 1);
  assert.throws(() => signalEfficiencyAt(roc, 1.5), /background efficiency must be in \[0, 1\], got 1.5/);
  // on a real curve: the efficiency at a point's own fpr is that point's tpr
  const real = rocCurve(cases[0].labels, cases[0].scores, cases[0].weights);
  const i = Math.floor(real.fpr.length / 2);
  if (real.fpr[i + 1] !== real.fpr[i]) assert.equal(signalEfficiencyAt(real, real.fpr[i]), real.tpr[i]);
});

test('selectionEfficiencies gives the weighted pass fractions of a cut', () => {
  const eff = selectionEfficiencies([1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [3, 1, 1, 2, 2]);
  assert.equal(eff.tpr, 0.75);
  assert.equal(eff.fpr, 0.2);
});

test('StreamingBinaryMetrics over batches equals the metrics on the concatenation', () => {
  const c = cases[1];
  const metrics = new StreamingBinaryMetrics();
  const losses = [0.7, 0.6, 0.5, 0.4];
  const batch = 500;
  for (let b = 0; b < 4; b++) {
    const slice = (a: number[]) => a.slice(b * batch, (b + 1) * batch);
    metrics.update(Int32Array.from(slice(c.labels)), Float32Array.from(slice(c.scores)), slice(c.weights!), losses[b]);
  }
  const r = metrics.result();
  assert.equal(r.count, 2000);
  assert.ok(Math.abs(r.loss - 0.55) < 1e-12);
  assert.ok(Math.abs(r.accuracy - reference[1].accuracy) < 1e-12);
  const scores32 = Array.from(Float32Array.from(c.scores));
  assert.ok(Math.abs(r.auc - rocAuc(c.labels, scores32, c.weights)) < 1e-12);
  assert.ok(Math.abs(r.aucThresholds - rocAucThresholds(c.labels, scores32, c.weights)) < 1e-12);
  metrics.reset();
  const empty = metrics.result();
  assert.equal(empty.count, 0);
  assert.ok(Number.isNaN(empty.auc) && Number.isNaN(empty.loss) && Number.isNaN(empty.accuracy));
  metrics.update([1, 1], [0.9, 0.8], null);
  assert.ok(Number.isNaN(metrics.result().auc), 'one class only: AUC undefined');
  assert.equal(metrics.result().accuracy, 1);
});

test('bad inputs fail with a clear message', () => {
  assert.throws(() => rocAuc([0, 1, 2], [0.1, 0.2, 0.3]), /labels must be 0 or 1, got 2 at index 2/);
  assert.throws(() => rocAuc([0, 1], [0.1]), /2 labels but 1 scores/);
  assert.throws(() => rocAuc([0, 1], [0.1, NaN]), /scores must be finite, got NaN at index 1/);
  assert.throws(() => rocAuc([0, 1], [0.1, 0.2], [1, -1]), /weights must be finite and ≥ 0, got -1 at index 1/);
  assert.throws(() => rocAuc([1, 1], [0.1, 0.2]), /no negative \(label 0\) samples with weight > 0/);
  assert.throws(() => rocAucThresholds([0, 1], [0.1, 1.2]), /scores must be in \[0, 1\], got 1.2/);
});
