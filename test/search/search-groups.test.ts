/**
 * Data-parallel trials against a real local cluster of 4 engines:
 * `cluster.search({ engines: 2 })` runs each trial as `cluster.train` on 2
 * free engines, so two trials run at once (the HEP CNN on tiny synthetic
 * data); a pruned data-parallel trial (a `{buildModel, batchSource}` user
 * training) stops both its ranks and frees both engines for the next trial.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import type { TaskSpan } from '../../cluster/search/driver';
import { synthesize } from '../../src';
import { writeTinyConfig } from '../cli/support';
import { tempDirMaker } from '../support/tmp';

const TOY = path.join(__dirname, '..', 'train-distributed', 'toy-mlp.ts');
const FAILS_ONCE = path.join(__dirname, 'support', 'fails-once-training.ts');
let cluster: Cluster;

after(async () => {
  await cluster?.close();
});
// registered after the cluster's hook: the cluster stops before its directories are removed
const tempDir = tempDirMaker('hpcdl-search-groups-');

before(async () => {
  process.env.HPCDL_GROUP_HOST = '127.0.0.1'; // the engines inherit it: rank listeners bind to loopback
  cluster = await Cluster.start({ engines: 4, profileDir: tempDir(), output: 'none', log: () => undefined });
});

function spansByTrial(spans: readonly TaskSpan[]): Map<number, TaskSpan[]> {
  const out = new Map<number, TaskSpan[]>();
  for (const s of spans) out.set(s.trial, [...(out.get(s.trial) ?? []), s]);
  return out;
}

test('HEP trials on 2 engines each: every trial on 2 distinct engines, two trials at once, the study completes', { timeout: 180_000 }, async () => {
  const work = tempDir();
  const data = path.join(work, 'data');
  await synthesize({ outDir: data, size: 64, events: 400, seed: 3, log: () => undefined });
  const config = writeTinyConfig(work);
  const reported = new Map<number, number[]>();
  const study = cluster.search({
    space: { learning_rate: { type: 'float', low: 1e-3, high: 1e-2, log: true }, num_filters: { type: 'int', low: 2, high: 6 } },
    objective: { config, inputPath: data, overrides: { num_epochs: 2 } },
    algorithm: 'random',
    trials: 4,
    engines: 2,
    seed: 2,
    chance: null,
    dir: path.join(work, 'study'),
    display: false,
  });
  study.onTrial((e) => {
    if (e.kind === 'report' && typeof e.data?.val_auc === 'number') reported.set(e.trial.id, [...(reported.get(e.trial.id) ?? []), e.data.epoch as number]);
  });
  const trials = await study;
  assert.equal(trials.length, 4);
  for (const t of trials) {
    assert.equal(t.state, 'complete', `trial ${t.id}: ${t.state} ${t.error ?? ''}`);
    assert.ok(typeof t.value === 'number' && t.value > 0 && t.value <= 1, `trial ${t.id}: val_auc ${t.value}`);
    assert.deepEqual(t.reports.map((r) => r.step), [1, 2], `trial ${t.id}: a report per epoch (the group's validation)`);
    assert.deepEqual(reported.get(t.id), [1, 2]);
    assert.match(String(t.engine), /^\d+\+\d+$/, `trial ${t.id} ran on engines ${t.engine}`);
  }
  const byTrial = spansByTrial(study.spans);
  for (const [id, spans] of byTrial) {
    assert.equal(spans.length, 2, `trial ${id}: one span per engine`);
    assert.equal(new Set(spans.map((s) => s.engine)).size, 2, `trial ${id} ran on 2 distinct engines: ${spans.map((s) => s.engine).join(', ')}`);
  }
  const intervals = [...byTrial.values()].map((s) => ({ start: s[0].start, end: s[0].end, engines: s.map((x) => x.engine) }));
  const overlapping = intervals.some((a, i) => intervals.some((b, j) => i < j && a.start < b.end && b.start < a.end));
  assert.ok(overlapping, 'two trials overlapped in time');
  // never more than 2 trials at once, and no engine in two trials at once
  for (const a of intervals) {
    const concurrent = intervals.filter((b) => b.start <= a.start && a.start < b.end);
    assert.ok(concurrent.length <= 2, `at most 2 trials of 2 engines on 4 engines: ${concurrent.length}`);
    const engines = concurrent.flatMap((b) => b.engines);
    assert.equal(new Set(engines).size, engines.length, 'no engine shared by concurrent trials');
  }
  const best = study.best()!;
  assert.ok(best.checkpoint, 'the best trial has a checkpoint (rank 0\'s)');
});

test('a pruned data-parallel trial stops both ranks and frees both engines', { timeout: 120_000 }, async () => {
  const work = tempDir();
  let prunedAt = 0;
  // one trial at a time (grid order): two learn, the third barely moves and is pruned, the fourth reuses the engines
  const study = cluster.search({
    space: { learningRate: { type: 'categorical', choices: [0.05, 0.04, 1e-9, 0.08] } },
    objective: { module: TOY, export: 'training', config: { batchSize: 64, epochs: 4, events: 1024, hidden: 16 } },
    algorithm: 'grid',
    trials: 4,
    engines: 2,
    maxParallel: 1,
    metric: 'val_auc',
    direction: 'max',
    pruner: { name: 'median', startupTrials: 2, warmupSteps: 1 },
    chance: null,
    dir: path.join(work, 'study'),
    display: false,
  });
  study.onTrial((e) => {
    if (e.kind === 'pruned') prunedAt = Date.now();
  });
  const trials = await study;
  // (the fourth's own fate is the pruner's business; it must have run, on the freed engines)
  assert.deepEqual(trials.slice(0, 3).map((t) => t.state), ['complete', 'complete', 'pruned'], trials.map((t) => `${t.params.learningRate}: ${t.state} ${t.value} ${t.error ?? ''}`).join(' | '));
  const pruned = trials[2];
  assert.ok(pruned.reports.length < 4, `the pruned trial stopped early: ${pruned.reports.length} reports`);
  const byTrial = spansByTrial(study.spans);
  const spans = byTrial.get(pruned.id)!;
  assert.equal(spans.length, 2);
  assert.deepEqual(spans.map((s) => s.outcome), ['cancelled', 'cancelled'], 'both ranks cancelled');
  const freed = Math.max(...spans.map((s) => s.end));
  assert.ok(freed - prunedAt < 10_000, `both engines freed ${freed - prunedAt} ms after the prune`);
  const next = byTrial.get(trials[3].id)!;
  assert.deepEqual(next.map((s) => s.engine).sort(), spans.map((s) => s.engine).sort(), 'the next trial ran on the freed engines');
  assert.ok(next[0].start >= freed, 'after they were freed');
  let engines = await cluster.engines();
  for (let i = 0; i < 50 && engines.some((e) => e.running > 0); i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    engines = await cluster.engines();
  }
  assert.ok(engines.every((e) => e.running === 0), `no rank left running: ${JSON.stringify(engines.map((e) => [e.engine_id, e.running]))}`);
});

test('a failed data-parallel trial is retried once, on other engines', { timeout: 120_000 }, async () => {
  const work = tempDir();
  const study = cluster.search({
    space: { learningRate: { type: 'categorical', choices: [0.05] } },
    objective: { module: FAILS_ONCE, export: 'training', config: { batchSize: 64, epochs: 2, events: 512, hidden: 8, marker: path.join(work, 'failed-once') } },
    algorithm: 'grid',
    trials: 1,
    engines: 2,
    chance: null,
    dir: path.join(work, 'study'),
    display: false,
  });
  const retried: number[] = [];
  study.onTrial((e) => e.kind === 'retried' && retried.push(e.trial.id));
  const [trial] = await study;
  assert.equal(trial.state, 'complete', `${trial.state}: ${trial.error ?? ''}`);
  assert.equal(trial.attempts, 2);
  assert.deepEqual(retried, [0]);
  const spans = spansByTrial(study.spans).get(0)!;
  const failed = spans.filter((s) => s.outcome === 'error').map((s) => s.engine);
  const ok = spans.filter((s) => s.outcome === 'ok').map((s) => s.engine);
  assert.equal(failed.length, 2);
  assert.equal(ok.length, 2);
  assert.ok(ok.every((e) => !failed.includes(e)), `the retry ran on other engines: failed on ${failed.join(', ')}, then ${ok.join(', ')}`);
});
