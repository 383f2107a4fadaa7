/** `hpcdl bench cluster-noop` runs end to end (small sizes, no Python peers) and prints every figure it promises. Speed is not checked. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hpcdl } from './support';

const NUMBER = String.raw`(\d+(?:\.\d+)?)`;

test('bench cluster-noop: hpcdl, the no-hpcdl floor, the controller alone, the floor ratio and the headline', async () => {
  // the name as users typed it before the files became kebab-case (cluster_noop.ts): still accepted
  const r = await hpcdl(['bench', 'cluster_noop', '--tasks', '300', '--repeats', '1', '--latency-samples', '60', '--no-peers'], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, r.stderr);
  const hp = r.stdout.match(new RegExp(String.raw`^hpcdl\s+${NUMBER} tasks/s\s+p50\s+${NUMBER} ms\s+p99\s+${NUMBER} ms.*in-process controller`, 'm'));
  assert.ok(hp, r.stdout);
  const floor = r.stdout.match(new RegExp(String.raw`^floor \(no hpcdl code\)\s+p50\s+${NUMBER} ms\s+p99\s+${NUMBER} ms`, 'm'));
  assert.ok(floor, r.stdout);
  assert.match(r.stdout, new RegExp(String.raw`^hpcdl controller alone\s+${NUMBER} tasks/s`, 'm'));
  const ratio = r.stdout.match(new RegExp(String.raw`^hpcdl p50 / floor p50: ${NUMBER}x`, 'm'));
  assert.ok(ratio);
  assert.ok(Math.abs(Number(ratio![1]) - Number(hp![2]) / Number(floor![1])) < 0.03, 'the ratio is computed from the printed figures');
  for (const n of [hp![1], hp![2], hp![3], floor![1], floor![2]]) assert.ok(Number(n) > 0);
  assert.match(r.stdout, /^headline \(Cluster\.start defaults, 2 hpcdl engine processes\): \d+ tasks\/s/m);
});
