/** The Study state machine: ask/report/tell/retry, outcomes, direction, best/top, k-fold, maxParallel, events, CSV, option errors. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Study, foldSpread, type SearchSpace, type StudyEvent } from '../../src/hpo';

const SPACE: SearchSpace = { lr: { type: 'float', low: 1e-4, high: 1e-1, log: true }, opt: { type: 'categorical', choices: ['adam', 'sgd, "nesterov"'] } };
const clock = () => {
  let t = Date.UTC(2026, 0, 1);
  return { now: () => (t += 1000) };
};

test('lifecycle: complete, failed, failed_to_converge (diverged or non-finite value), retry, direction max, best and top', () => {
  const s = new Study({ space: SPACE, trials: 6, direction: 'max', seed: 1, metric: 'val_auc' }, clock());
  const ts = s.ask(6);
  assert.deepEqual(ts.map((t) => [t.id, t.state, t.attempts]), [0, 1, 2, 3, 4, 5].map((i) => [i, 'running', 1]));
  assert.equal(s.ask(1).length, 0, 'budget reached');
  s.tell(0, { value: 0.8 });
  s.tell(1, { value: 0.9 });
  s.tell(2, { failed: 'engine 3 died' });
  s.tell(3, { diverged: 'loss is NaN at epoch 2' });
  s.tell(4, { value: Number.NaN });
  s.tell(5, { value: 0.85 });
  assert.deepEqual(s.trials.map((t) => t.state), ['complete', 'complete', 'failed', 'failed_to_converge', 'failed_to_converge', 'complete']);
  assert.equal(s.trials[3].error, 'loss is NaN at epoch 2');
  assert.equal(s.trials[4].error, 'objective value is NaN');
  assert.equal(s.best()!.id, 1);
  assert.deepEqual(s.top(2).map((t) => t.id), [1, 5]);
  assert.equal(s.done, true, 'failures do not stop the study');
  assert.throws(() => s.tell(0, { value: 1 }), /trial 0 is complete, not running/);
  assert.throws(() => s.retry(0), /only failed trials are retried/);
  s.retry(2);
  assert.equal(s.done, false);
  const [again] = s.ask(3);
  assert.deepEqual([again.id, again.state, again.attempts, again.error], [2, 'running', 2, undefined]);
  assert.deepEqual(again.params, ts[2].params, 'same parameters on retry');
  s.tell(2, { value: 0.95 });
  assert.equal(s.best()!.id, 2);
  assert.deepEqual(s.counts(), { pending: 0, running: 0, complete: 4, pruned: 0, failed: 0, failed_to_converge: 2 });
  assert.throws(() => s.trial(9), /study: no trial 9/);
});

test('k-fold: the value is the mean over folds and the spread is kept; fold count checked', () => {
  const s = new Study({ space: SPACE, trials: 2, folds: 3, seed: 2 });
  const [a, b] = s.ask(2);
  s.tell(a.id, { value: 0, folds: [0.7, 0.8, 0.9] });
  assert.ok(Math.abs(s.trials[0].value! - 0.8) < 1e-12);
  const spread = foldSpread(s.trials[0])!;
  assert.ok(Math.abs(spread.std - 0.1) < 1e-12);
  assert.throws(() => s.tell(b.id, { value: 0.5, folds: [0.5, 0.5] }), /2 fold scores for a 3-fold study/);
});

test('maxParallel caps running trials; ask hands out pending (retried) trials before new ones', () => {
  const s = new Study({ space: SPACE, trials: 10, maxParallel: 2, seed: 3 });
  assert.equal(s.ask(5).length, 2);
  assert.equal(s.ask(1).length, 0);
  s.tell(0, { failed: 'boom' });
  s.retry(0);
  const [t] = s.ask(5);
  assert.equal(t.id, 0);
  assert.equal(s.trials.length, 2);
});

test('onChange sees every change in order; unsubscribe stops it', () => {
  const s = new Study({ space: SPACE, trials: 3, seed: 4, pruner: 'median' });
  const seen: string[] = [];
  const off = s.onChange((e: StudyEvent) => seen.push(`${e.type}:${e.trial.id}${e.type === 'report' ? `:${e.decision}` : ''}`));
  const [t] = s.ask(1);
  s.assign(t.id, 'engine-1');
  s.report(t.id, 1, 0.5, { loss: 0.7 });
  s.tell(t.id, { failed: 'x' });
  s.retry(t.id);
  s.ask(1);
  off();
  s.ask(1);
  assert.deepEqual(seen, ['ask:0', 'assign:0', 'report:0:continue', 'tell:0', 'retry:0', 'start:0']);
  assert.deepEqual(s.trials[0].reports, [], 'a retried trial starts a fresh curve');
});

test('toCsv: one row per trial, parameters as columns, inactive empty, fields quoted where needed', () => {
  const s = new Study({ space: SPACE, trials: 2, seed: 5, folds: 2 }, clock());
  const [a, b] = s.ask(2);
  s.assign(a.id, 0);
  s.report(a.id, 1, 0.4);
  s.tell(a.id, { value: 0, folds: [0.5, 0.7] });
  s.tell(b.id, { failed: 'bad, "very" bad' });
  const lines = s.toCsv().trimEnd().split('\n');
  assert.equal(lines[0], 'id,state,value,fold_mean,fold_std,lr,opt,attempts,engine,started_at,ended_at,seconds,last_step,error');
  assert.equal(lines.length, 3);
  const row0 = parseCsvLine(lines[1]);
  assert.equal(row0.length, 14);
  assert.deepEqual(row0.slice(0, 3), ['0', 'complete', '0.6']);
  assert.equal(row0[8], '0');
  assert.equal(row0[11], '2', 'seconds from started_at to ended_at');
  const row1 = parseCsvLine(lines[2]);
  assert.equal(row1[13], 'bad, "very" bad');
  assert.equal(row1[6], b.params.opt);
});

function parseCsvLine(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let v = '';
      i++;
      while (i < line.length && !(line[i] === '"' && line[i + 1] !== '"')) v += line[i] === '"' ? (i++, '"') : line[i], i++;
      out.push(v);
      i += 2;
    } else {
      const end = line.indexOf(',', i) < 0 ? line.length : line.indexOf(',', i);
      out.push(line.slice(i, end));
      i = end + 1;
    }
  }
  return out;
}

test('study options errors name the field', () => {
  assert.throws(() => new Study({ space: SPACE, trials: 0 }), /study\.trials must be a positive integer, got 0/);
  assert.throws(() => new Study({ space: SPACE, trials: 3, algorithm: 'bayes' as never }), /study\.algorithm must be one of random, grid, gp, tpe, genetic, got "bayes"/);
  assert.throws(() => new Study({ space: SPACE, trials: 3, direction: 'up' as never }), /study\.direction must be "min" or "max"/);
  assert.throws(() => new Study({ space: SPACE, trials: 3, trails: 4 } as never), /study: unknown option "trails"/);
  assert.throws(() => new Study({ space: { lr: { type: 'float', low: 1, high: 0.1 } }, trials: 3 }), /space\.lr: low must be < high, got 1 and 0\.1/);
  assert.throws(() => new Study({ space: SPACE, trials: 3, algorithm: 'genetic', algorithmOptions: { population: 1 } }), /genetic: population must be an integer >= 2/);
  assert.throws(() => new Study({ space: SPACE, trials: 3, folds: 0 }), /study\.folds must be a positive integer \(1: no cross-validation\), got 0/);
  const s = new Study({ space: SPACE, trials: 3, folds: 1 });
  assert.ok(Number.isInteger(s.options.seed), 'a seed is chosen (and journaled) when none is given');
});

test('enqueue: a given configuration (e.g. the default) runs first and counts toward the budget; bad params name the parameter', () => {
  const s = new Study({ space: SPACE, algorithm: 'gp', trials: 3, seed: 6 });
  const base = s.enqueue({ lr: 1e-3, opt: 'adam' });
  assert.deepEqual([base.id, base.state, base.attempts], [0, 'pending', 0]);
  const [first, second] = s.ask(2);
  assert.equal(first.id, 0);
  assert.deepEqual(first.params, { lr: 1e-3, opt: 'adam' });
  assert.equal(first.attempts, 1);
  assert.equal(second.id, 1);
  assert.throws(() => s.enqueue({ lr: 2, opt: 'adam' }), /params\.lr: 2 is not a possible value \(float in \[0\.0001, 0\.1\]\)/);
  assert.throws(() => s.enqueue({ lr: 1e-3 }), /params\.opt: missing/);
  assert.throws(() => s.enqueue({ lr: 1e-3, opt: 'adam', momentum: 0.9 }), /params\.momentum: no such dimension/);
  s.enqueue({ lr: 1e-2, opt: 'adam' });
  assert.throws(() => s.enqueue({ lr: 1e-2, opt: 'adam' }), /budget of 3 trials is used up/);
  // a grid point enqueued is not proposed again; the grid still ends after its points
  const g = new Study({ space: { a: { type: 'categorical', choices: [1, 2, 3] } }, algorithm: 'grid', trials: 10, seed: 1 });
  g.enqueue({ a: 2 });
  assert.equal(g.capacity, 3);
  assert.deepEqual(g.ask(10).map((t) => t.params.a).sort(), [1, 2, 3]);
  const conditional = new Study({ space: { head: { type: 'categorical', choices: [32, 64] }, fc: { type: 'int', low: 8, high: 64, when: { head: [64] } } }, trials: 2 });
  assert.throws(() => conditional.enqueue({ head: 32, fc: 16 }), /params\.fc: given, but its condition \{"head":\[64\]\} does not hold/);
});
