/**
 * cluster.search against a real local cluster (controller + 2 engine
 * processes): user-module objectives, load balancing, pruning that frees the
 * engine, a throwing objective retried once on the other engine, NaN and
 * chance-level scores marked failed_to_converge, CSV and the trial data.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import type { TrialEvent } from '../../cluster/search';
import { tempDirMaker } from '../support/tmp';

const OBJECTIVES = path.join(__dirname, 'support', 'objectives.ts');
let cluster: Cluster;

after(async () => {
  await cluster?.close();
});
// registered after the cluster's hook: the cluster stops before its directories are removed
const tempDir = tempDirMaker('hpcdl-search-');

before(async () => {
  cluster = await Cluster.start({ engines: 2, profileDir: tempDir(), output: 'none', log: () => undefined });
});

interface LogLine { what: string; trial: number; engine: string; at: number }

function events(dir: string): LogLine[] {
  const file = path.join(dir, 'events.log');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => {
    const [what, trial, engine, at] = l.split(' ');
    return { what, trial: Number(trial), engine, at: Number(at) };
  });
}

test('a random search with a user-module objective completes every trial on both engines', async () => {
  const dir = tempDir();
  const seen: TrialEvent['kind'][] = [];
  const study = cluster.search({
    space: { x: { type: 'float', low: 0, high: 1 }, y: { type: 'categorical', choices: ['a', 'b'] } },
    objective: `${OBJECTIVES}#bowl`,
    algorithm: 'random',
    trials: 6,
    direction: 'max',
    seed: 3,
    dir,
    display: false,
  });
  study.onTrial((e) => seen.push(e.kind));
  const trials = await study;
  assert.equal(trials.length, 6);
  assert.deepEqual(trials.map((t) => t.state), Array(6).fill('complete'));
  for (const t of trials) {
    const expected = 1 - ((t.params.x as number) - 0.3) ** 2 - (t.params.y === 'b' ? 0 : 0.2);
    assert.ok(Math.abs(t.value! - expected) < 1e-12, `trial ${t.id}: value ${t.value} is the objective's return ${expected}`);
    assert.deepEqual(t.reports.map((r) => r.step), [1, 2, 3], `trial ${t.id}: one report per epoch`);
    assert.equal(t.attempts, 1);
  }
  const engines = new Set(events(dir).filter((e) => e.what === 'start').map((e) => e.engine));
  assert.equal(engines.size, 2, 'trials ran on both engines');
  const best = study.best()!;
  assert.equal(best.value, Math.max(...trials.map((t) => t.value!)));
  assert.deepEqual(study.top(2).map((t) => t.id), [...trials].sort((a, b) => b.value! - a.value!).slice(0, 2).map((t) => t.id));
  const csv = study.toCsv().trim().split('\n');
  assert.equal(csv.length, 7, 'header + one line per trial');
  assert.match(csv[0], /x/);
  assert.equal(seen.filter((k) => k === 'started').length, 6);
  assert.equal(seen.filter((k) => k === 'complete').length, 6);
  assert.equal(seen.filter((k) => k === 'report').length, 18);
  assert.deepEqual(study.trials.map((t) => t.id), [0, 1, 2, 3, 4, 5], 'the same data through the client API after the end');
});

test('a GP search keeps both engines busy: no more than 2 trials at once, never idle while trials remain', async () => {
  const dir = tempDir();
  const study = cluster.search({
    space: { x: { type: 'float', low: 0, high: 1 } },
    objective: { module: OBJECTIVES, export: 'bowl' },
    algorithm: 'gp',
    trials: 8,
    direction: 'max',
    seed: 1,
    dir,
    display: false,
  });
  const trials = await study;
  assert.equal(trials.filter((t) => t.state === 'complete').length, 8);
  const log = events(dir);
  // at each start, count trials running
  let running = 0;
  let peak = 0;
  for (const e of [...log].sort((a, b) => a.at - b.at)) {
    if (e.what === 'start') running++;
    if (e.what === 'end') running--;
    peak = Math.max(peak, running);
  }
  assert.equal(peak, 2, 'two trials ran at once (one per engine), never more');
  assert.ok(Math.abs((study.best()!.params.x as number) - 0.3) < 0.3, `GP found x near 0.3: ${study.best()!.params.x}`);
});

test('a pruned trial is cancelled at once and its engine starts the next trial', async () => {
  const dir = tempDir();
  // three high and three low curves (the grid visits them in a seeded order); once two trials are complete, low ones fall below the median
  const study = cluster.search({
    space: { q: { type: 'categorical', choices: [1, 0.9, 0.95, 0.1, 0.05, 0.08] } },
    objective: `${OBJECTIVES}#plateau`,
    algorithm: 'grid',
    trials: 6,
    direction: 'max',
    pruner: { name: 'median', startupTrials: 2, warmupSteps: 1 },
    dir,
    display: false,
  });
  const trials = await study;
  const pruned = trials.filter((t) => t.state === 'pruned');
  assert.ok(pruned.length >= 1, `some trial pruned: ${trials.map((t) => `${t.params.q}:${t.state}`).join(', ')}`);
  assert.ok(pruned.some((t) => (t.params.q as number) <= 0.1), `a low curve was pruned: ${trials.map((t) => `${t.params.q}:${t.state}`).join(', ')}`);
  for (const t of pruned) {
    assert.ok(t.reports.length >= 1 && t.reports.length <= 8, `trial ${t.id} kept its curve up to the prune: ${t.reports.length} reports`);
    assert.deepEqual(t.reports.map((r) => r.step), t.reports.map((_, i) => i + 1));
  }
  const log = events(dir).sort((a, b) => a.at - b.at);
  const p = pruned.find((t) => t.reports.length < 8);
  assert.ok(p, 'a trial pruned before its last epoch');
  const prunedStart = log.find((e) => e.what === 'start' && e.trial === p.id)!;
  assert.equal(log.some((e) => e.what === 'end' && e.trial === p.id), false, 'the pruned task never reached its end');
  // it would have ended 8 x 250 ms after its start; the next trial on its engine starts well before that
  const wouldEnd = prunedStart.at + 8 * 250;
  const next = log.find((e) => e.what === 'start' && e.engine === prunedStart.engine && e.at > prunedStart.at);
  if (next) assert.ok(next.at < wouldEnd, `next trial on engine ${prunedStart.engine} started ${next.at - prunedStart.at} ms after the pruned one, before its natural end (${wouldEnd - prunedStart.at} ms)`);
  else assert.ok(trials.every((t) => t.id <= p.id || log.some((e) => e.trial === t.id)), 'no later trial was left');
});

test('an objective that throws is retried once on the other engine, then failed; NaN and chance level are failed_to_converge; the study goes on', async () => {
  const dir = tempDir();
  const study = cluster.search({
    space: { kind: { type: 'categorical', choices: ['ok', 'boom', 'nan', 'flat'] } },
    objective: `${OBJECTIVES}#fragile`,
    algorithm: 'grid',
    trials: 4,
    direction: 'max',
    metric: 'val_auc',
    dir,
    display: false,
  });
  const retried: number[] = [];
  study.onTrial((e) => e.kind === 'retried' && retried.push(e.trial.id));
  const trials = await study;
  const byKind = (k: string) => trials.filter((t) => t.params.kind === k);
  assert.ok(byKind('boom').length >= 1 && byKind('ok').length >= 1 && byKind('nan').length >= 1 && byKind('flat').length >= 1, `every kind tried: ${trials.map((t) => t.params.kind).join(',')}`);
  for (const t of byKind('boom')) {
    assert.equal(t.state, 'failed');
    assert.equal(t.attempts, 2, 'retried once');
    assert.match(t.error ?? '', /objective exploded on kind=boom/);
    assert.ok(retried.includes(t.id));
    const starts = events(dir).filter((e) => e.what === 'start-boom' && e.trial === t.id);
    assert.equal(starts.length, 2, 'two attempts');
    assert.notEqual(starts[0].engine, starts[1].engine, 'the retry ran on the other engine');
  }
  for (const t of byKind('nan')) {
    assert.equal(t.state, 'failed_to_converge');
    assert.match(t.error ?? '', /loss is NaN at epoch 2/);
  }
  for (const t of byKind('flat')) {
    assert.equal(t.state, 'failed_to_converge');
    assert.match(t.error ?? '', /at chance/);
  }
  for (const t of byKind('ok')) assert.equal(t.state, 'complete');
});

test('cancel() stops the study: no new trials, the running ones cancelled, await resolves', async () => {
  const dir = tempDir();
  const study = cluster.search({
    // grid runs in declaration order: one short trial, then long ones that are surely in flight at the cancel
    space: { seconds: { type: 'categorical', choices: [0.3, 6, 6.1, 6.2, 6.3, 6.4, 6.5, 6.6, 6.7, 6.8] } },
    objective: `${OBJECTIVES}#sleeper`,
    algorithm: 'grid',
    trials: 10,
    direction: 'max',
    dir,
    display: false,
  });
  const firstDone = new Promise<void>((resolve) => study.onTrial((e) => e.kind === 'complete' && resolve()));
  await firstDone;
  await study.cancel();
  const trials = await study;
  assert.ok(trials.length < 10, `no new trials after cancel: ${trials.length}`);
  assert.ok(trials.some((t) => t.state === 'complete'));
  const startsAfter = events(dir).filter((e) => e.what === 'start').length;
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(events(dir).filter((e) => e.what === 'start').length, startsAfter, 'nothing starts after the study ended');
  const cancelled = trials.filter((t) => t.state === 'running');
  assert.ok(cancelled.length >= 1, 'some trial was in flight at the cancel');
  for (const t of cancelled) assert.ok(!events(dir).some((e) => e.what === 'end' && e.trial === t.id), `trial ${t.id} was cancelled, not finished`);
});

test('a trial whose engine dies runs again on another engine and completes, without using up a retry; the study goes on', { timeout: 120_000 }, async () => {
  const dir = tempDir();
  const study = cluster.search({
    space: { kind: { type: 'categorical', choices: ['die', 'ok'] } },
    objective: `${OBJECTIVES}#dies`,
    algorithm: 'grid',
    trials: 2,
    direction: 'max',
    dir,
    display: false,
  });
  const trials = await study;
  const died = trials.find((t) => t.params.kind === 'die')!;
  assert.equal(died.state, 'complete', `${died.error}`);
  // the controller reruns a task whose engine died (--engine-losses), so the trial keeps its retries
  assert.equal(died.attempts, 1, 'an engine loss is not charged to the trial');
  const starts = events(dir).filter((e) => e.what === 'start-die');
  assert.equal(starts.length, 2);
  assert.notEqual(starts[0].engine, starts[1].engine, 'the rerun ran on another engine');
  assert.equal(trials.find((t) => t.params.kind === 'ok')!.state, 'complete');
  await cluster.waitForEngines(2, 60_000); // the launcher replaces the dead engine
});

test('bad options name the field; engines per trial > 1 refuses a function objective and folds', () => {
  assert.throws(() => cluster.search({ space: {}, objective: `${OBJECTIVES}#bowl`, trials: 2 }), /space must be a non-empty/);
  assert.throws(() => cluster.search({ space: { x: { type: 'float', low: 0, high: 1 } }, objective: `${OBJECTIVES}#bowl`, trials: 0 }), /trials must be a positive integer/);
  assert.throws(() => cluster.search({ space: { x: { type: 'float', low: 0, high: 1 } }, objective: './nope.ts#f', trials: 2 }), /objective module .*nope\.ts does not exist/);
  assert.throws(() => cluster.search({ space: { x: { type: 'float', low: 0, high: 1 } }, objective: `${OBJECTIVES}#bowl`, trials: 2, engines: 2 }), /engines: 2 trains each trial data-parallel with cluster\.train, .*objectives\.ts#bowl is a function objective/);
  assert.throws(() => cluster.search({ space: { x: { type: 'float', low: 0, high: 1 } }, objective: { config: 'configs/local_small.json' }, trials: 2, engines: 2, folds: 2 }), /folds: 2 with engines: 2 per trial is not supported/);
});
