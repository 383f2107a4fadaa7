/** Smoke test of `hpcdl bench hpo-search` (utilisation section only, 6 trials, Optuna beside it). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hpcdl } from '../cli/support';

test('hpcdl bench hpo-search --trials 6 --no-hep prints both systems and a ratio', { timeout: 180_000 }, async () => {
  const r = await hpcdl(['bench', 'hpo-search', '--trials', '6', '--no-hep'], { timeoutMs: 150_000 });
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  const ours = /hpcdl cluster\.search: busy ([\d.]+)% overall, ([\d.]+)% while trials were waiting/.exec(r.stdout);
  assert.ok(ours, r.stdout);
  for (const v of ours.slice(1).map(Number)) assert.ok(v > 0 && v <= 100, `a percentage: ${v}`);
  assert.match(r.stdout, /optuna 3\.\d+\.\d+ optimize\(n_jobs=2\): busy [\d.]+% overall/);
  assert.match(r.stdout, /ratio hpcdl\/optuna \(overall busy fraction\): [\d.]+/);
});
