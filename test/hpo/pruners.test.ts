/** Median stopping and ASHA on constructed learning curves: which trials stop, where, and what they keep. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Study, AshaPruner, MedianPruner, createPruner, type StudyOptions } from '../../src/hpo';

const SPACE = { x: { type: 'float', low: 0, high: 1 } } as const;

/** runs the curves one trial after another; returns where each stopped */
function runCurves(opts: Partial<StudyOptions>, curves: number[][]): { study: Study; stoppedAt: (number | null)[] } {
  const study = new Study({ space: SPACE, trials: curves.length, seed: 0, ...opts });
  const stoppedAt = curves.map((curve) => {
    const [t] = study.ask(1);
    for (let i = 0; i < curve.length; i++) {
      if (study.report(t.id, i + 1, curve[i]) === 'prune') return i + 1;
    }
    study.tell(t.id, { value: curve[curve.length - 1] });
    return null;
  });
  return { study, stoppedAt };
}

test('median: prunes a trial whose best value is worse than the complete trials\' median at that step, after warm-up steps and start-up trials', () => {
  const curves = [
    [1.0, 0.8, 0.6, 0.5], // complete
    [3.0, 2.9, 2.8, 2.7], // terrible, but only one trial is complete: startup protects it
    [0.9, 0.7, 0.5, 0.4], // complete; medians of {0, 1, 2}: step 2 0.8, step 3 0.6
    [0.95, 0.75, 0.55, 0.45], // under the median everywhere; medians of {0..3}: step 2 0.775, step 3 0.575
    [1.5, 1.4, 1.3, 1.2], // worse: step 1 is warm-up, pruned at step 2
    [1.2, 0.76, 0.7, 0.45], // slow start, its best 0.76 is under 0.775 at step 2, but 0.70 > 0.575 at step 3
    [Number.NaN, Number.NaN, Number.NaN], // diverged curve: pruned at the first step past warm-up
  ];
  const { study, stoppedAt } = runCurves({ pruner: { name: 'median', startupTrials: 2, warmupSteps: 2 } }, curves);
  assert.deepEqual(stoppedAt, [null, null, null, null, 2, 3, 2]);
  const t4 = study.trials[4];
  assert.equal(t4.state, 'pruned');
  assert.equal(t4.value, 1.4, 'a pruned trial keeps its best value so far');
  assert.deepEqual(t4.reports.map((r) => r.value), [1.5, 1.4], 'and its curve');
  assert.equal(study.trials[5].value, 0.7);
  assert.equal(study.report(4, 3, 1.0), 'prune', 'late reports of a pruned trial answer prune');
  assert.equal(study.trials[4].reports.length, 2, 'and are not recorded');
});

test('ASHA (eta 2, rungs at steps 1, 2, 4, direction max): the first at a rung goes on, then only the best 1/eta', () => {
  const pruner = new AshaPruner({ eta: 2, minResource: 1, maxResource: 8 });
  assert.deepEqual(pruner.rungs(), [1, 2, 4]);
  const curves = [
    [0.6, 0.7, 0.75, 0.8, 0.82], // first at every rung: goes on
    [0.5, 0.9, 0.9, 0.9, 0.9], // rung 1: {0.6, 0.5}, must be the best of 2 → stops at step 1
    [0.65, 0.68, 0.8, 0.8, 0.8], // rung 1: best of 3 → on; rung 2: {0.7, 0.68} not the best → stops at step 2
    [0.55, 0.9, 0.9, 0.9, 0.9], // rung 1: 4 values, must be in the top 2 (0.65, 0.6) → stops
    [0.62, 0.75, 0.8, 0.9, 0.95], // rung 1: top 2 of 5 (0.65, 0.62) → on; rung 2: best of 3 → on; rung 4: 0.9 ≥ 0.8 → on
    [0.61, 0.74, 0.9, 0.85, 0.99], // rung 1: 6 values, top 3 (0.65, 0.62, 0.61) → on; rung 2: 4 values, top 2 (0.75, 0.74) → on; rung 4: 3 values (0.9, 0.85, 0.8) best only → stops at 4
  ];
  const { study, stoppedAt } = runCurves({ direction: 'max', pruner: { name: 'asha', eta: 2, minResource: 1, maxResource: 8 } }, curves);
  assert.deepEqual(stoppedAt, [null, 1, 2, 1, null, 4]);
  assert.deepEqual(study.trials.map((t) => t.state), ['complete', 'pruned', 'pruned', 'pruned', 'complete', 'pruned']);
  assert.equal(study.trials[2].value, 0.68);
  assert.equal(study.trials[5].value, 0.9, 'best so far under direction max');
  assert.equal(study.best()!.id, 4);
});

test('ASHA decides asynchronously: running trials compete at a rung as soon as they reach it', () => {
  const study = new Study({ space: SPACE, trials: 4, seed: 0, pruner: { name: 'asha', eta: 2, minResource: 2 } });
  const [a, b, c, d] = study.ask(4);
  assert.equal(study.report(a.id, 1, 0.9), 'continue', 'no rung at step 1');
  assert.equal(study.report(a.id, 2, 0.5), 'continue');
  assert.equal(study.report(b.id, 2, 0.7), 'prune', 'worse than the only other value at rung 2');
  assert.equal(study.report(c.id, 2, 0.4), 'continue');
  assert.equal(study.report(d.id, 3, 0.45), 'continue', 'rung 2 reached by the first report past it: 4 values, top 2 = 0.4, 0.45');
  assert.equal(study.running, 3);
  study.tell(b.id, { value: 0.1 });
  assert.equal(study.trials[b.id].state, 'pruned', 'a tell after pruning does not revive the trial');
});

test('pruner options are checked with clear errors', () => {
  assert.throws(() => createPruner({ name: 'asha', eta: 1 }), /pruner\.eta must be an integer >= 2, got 1/);
  assert.throws(() => createPruner({ name: 'median', warmup: 3 }), /unknown option "warmup" for median/);
  assert.throws(() => createPruner({ name: 'hyperband' } as never), /pruner\.name must be "none", "median" or "asha", got "hyperband"/);
  assert.ok(createPruner('median') instanceof MedianPruner);
  assert.equal(createPruner('none'), null);
});
