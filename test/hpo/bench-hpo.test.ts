/** `hpcdl bench hpo-quality` and `hpo-overhead` run end to end with tiny settings: both hpcdl and Optuna produce numbers in the promised lines. Speed and quality are not checked. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { hpcdl } from '../cli/support';
import { mannWhitneyU } from '../../bench/support/mann-whitney';

const NUM = String.raw`([0-9.]+(?:e[+-]?\d+)?)`;

test('mann-whitney U matches scipy.stats.mannwhitneyu (asymptotic, two-sided, ties and continuity corrected)', () => {
  // scipy 1.10: mannwhitneyu(a, b, alternative='two-sided', method='asymptotic') → 21.5, 0.17660031503411477
  const r = mannWhitneyU([0.1, 0.5, 0.5, 0.9, 1.2, 3.0, 0.05, 0.7], [0.4, 0.6, 0.5, 1.5, 2.5, 3.5, 4.0, 0.9, 1.1]);
  assert.equal(r.u, 21.5);
  assert.ok(Math.abs(r.p - 0.17660031503411477) < 1e-6, String(r.p));
  const a = Array.from({ length: 20 }, (_, i) => i);
  // → 66.0, 0.0003047989167029453
  const s = mannWhitneyU(a, a.map((x) => x + 8.5));
  assert.equal(s.u, 66);
  assert.ok(Math.abs(s.p - 0.0003047989167029453) < 1e-8);
});

test('bench hpo-quality (2 seeds, 6 and 12 evaluations): a regret line per sampler and function, the test lines and the verdict', async () => {
  const r = await hpcdl(['bench', 'hpo-quality', '--seeds', '2', '--at', '6,12', '--functions', 'branin,noisy-hartmann3'], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  for (const fn of ['branin', 'noisy-hartmann3']) {
    for (const s of ['hpcdl-gp', 'hpcdl-tpe', 'optuna-tpe', 'optuna-random']) {
      const m = r.stdout.match(new RegExp(String.raw`^${fn}\s+${s}\s+${NUM}\s+${NUM}\s+${NUM}$`, 'm'));
      assert.ok(m, `${fn} ${s}:\n${r.stdout}`);
      assert.ok(Number(m[2]) >= 0 && Number(m[3]) >= 0);
      // without noise the best observed point only improves
      if (fn === 'branin') assert.ok(Number(m[1]) >= Number(m[2]), 'regret never grows with more evaluations');
    }
    for (const at of [6, 12]) assert.match(r.stdout, new RegExp(String.raw`^mann-whitney ${fn} @${at}: hpcdl-gp ${NUM} vs optuna-tpe ${NUM}, ratio optuna-tpe/hpcdl-gp ${NUM}x, U ${NUM}, p ${NUM}: `, 'm'));
  }
  assert.match(r.stdout, /^peer: optuna 3\.\d+/m);
  assert.match(r.stdout, /^target \(.*\): no worse on every function: .* → (MET|MISSED)$/m);
});

test('bench hpo-overhead (20 and 40 finished trials): ms per proposal for hpcdl and Optuna, and the ratios', async () => {
  const r = await hpcdl(['bench', 'hpo-overhead', '--sizes', '20,40', '--repeats', '2'], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr);
  for (const s of ['hpcdl-gp', 'hpcdl-tpe', 'hpcdl-random', 'optuna-tpe', 'optuna-random']) {
    for (const n of [20, 40]) {
      const m = r.stdout.match(new RegExp(String.raw`^${s}\s+after\s+${n} trials:\s+${NUM} ms/proposal$`, 'm'));
      assert.ok(m && Number(m[1]) > 0, `${s} ${n}:\n${r.stdout}`);
    }
  }
  const ratio = r.stdout.match(new RegExp(String.raw`^ratio hpcdl-tpe / optuna-tpe after 40: ${NUM}x$`, 'm'));
  assert.ok(ratio && Number(ratio[1]) > 0, r.stdout);
});
