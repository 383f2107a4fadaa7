/**
 * Collectives between real rank processes on loopback (test/collectives/support/rank.ts):
 * results equal a serial reduction (exactly for integer-valued floats, within
 * float32 / fp16 tolerance for random floats) for 2, 3 and 4 ranks, odd
 * lengths, empty and 1-element arrays, lengths spanning several chunks; fusion,
 * broadcast, allgather, allgatherJson, barrier; every rank ends bit-identical.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromBase64, intData, randomData } from './support/data';
import type { Step } from './support/rank';
import { startGroup } from './support/spawn-group';

// 600_001 elements: more than two 256 Ki-element chunks per segment for 2 ranks, odd.
const INT_LENGTHS = [0, 1, 2, 7, 1001, 600_001];

function serialSum(n: number, length: number, gen: (rank: number, length: number, salt?: number) => Float32Array, salt = 0): Float32Array {
  const out = new Float32Array(length);
  for (let r = 0; r < n; r++) {
    const d = gen(r, length, salt);
    for (let i = 0; i < length; i++) out[i] += d[i];
  }
  return out;
}

function assertClose(got: Float32Array, want: Float32Array, atol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= atol)) assert.fail(`${what}: element ${i} is ${got[i]}, the serial reduction gives ${want[i]} (tolerance ${atol})`);
  }
}

function steps(n: number): Step[] {
  return [
    ...INT_LENGTHS.map((length): Step => ({ op: 'allreduce', length, fill: 'int' })),
    { op: 'allreduce', length: 1001, fill: 'int', reduce: 'mean' },
    { op: 'allreduce', length: 100_003, fill: 'random', salt: 5 },
    { op: 'allreduceMany', lengths: [3, 0, 1000, 17, 1], fill: 'int', reduce: 'mean' },
    { op: 'allreduce', length: 10_001, fill: 'random', compression: 'fp16', salt: 9 },
    { op: 'broadcast', length: 1001, root: n - 1 },
    { op: 'broadcast', length: 0, root: 0 },
    { op: 'allgather', lengths: Array.from({ length: n }, (_, r) => (r * 3) % 5) },
    { op: 'allgatherJson' },
    { op: 'barrier', delayRank: n - 1, delayMs: 500 },
  ];
}

for (const n of [2, 3, 4]) {
  test(`${n} ranks: allreduce (sum, mean, fp16), allreduceMany, broadcast, allgather, allgatherJson, barrier`, { timeout: 180_000 }, async () => {
    const plan = steps(n);
    const run = await startGroup(n, plan);
    const results = await run.results();
    for (let r = 0; r < n; r++) assert.equal(results[r].length, plan.length, `rank ${r} ran every step`);
    // every rank holds bit-identical results (what the training relies on)
    for (let s = 0; s < plan.length; s++) {
      if (plan[s].op === 'barrier' || plan[s].op === 'allgatherJson') continue;
      for (let r = 1; r < n; r++) assert.deepEqual(results[r][s], results[0][s], `step ${s} (${plan[s].op}): rank ${r} differs from rank 0`);
    }
    const at = (s: number) => results[0][s];
    let s = 0;
    for (const length of INT_LENGTHS) {
      assert.deepEqual(fromBase64(at(s) as string), serialSum(n, length, intData), `sum of ${length} integer-valued floats`);
      s++;
    }
    assert.deepEqual(fromBase64(at(s++) as string), serialSum(n, 1001, intData).map((v) => v / n), 'mean');
    assertClose(fromBase64(at(s++) as string), serialSum(n, 100_003, randomData, 5), 1e-5 * n, 'sum of random floats');
    const fused = at(s++) as string[];
    [3, 0, 1000, 17, 1].forEach((len, i) => assert.deepEqual(fromBase64(fused[i]), serialSum(n, len, intData, i).map((v) => v / n), `fused array ${i} (${len} elements)`));
    // fp16 wire: each of the n-1 hops rounds a partial sum (|sum| <= n) to half precision (relative 2^-11)
    assertClose(fromBase64(at(s++) as string), serialSum(n, 10_001, randomData, 9), n * n * 2 ** -11, 'fp16-compressed sum');
    assert.deepEqual(fromBase64(at(s++) as string), intData(n - 1, 1001), 'broadcast from the last rank');
    assert.deepEqual(fromBase64(at(s++) as string), new Float32Array(0), 'broadcast of an empty array');
    for (let r = 0; r < n; r++) {
      const parts = (results[r][s] as string[]).map(fromBase64);
      assert.deepEqual(parts, Array.from({ length: n }, (_, j) => intData(j, (j * 3) % 5)), `allgather on rank ${r}`);
    }
    s++;
    for (let r = 0; r < n; r++) {
      const values = results[r][s] as { rank: number; pid: number; nested: unknown[] }[];
      assert.deepEqual(values.map((v) => v.rank), Array.from({ length: n }, (_, j) => j));
      assert.deepEqual(values.map((v) => v.pid), run.ranks.map((p) => p.child.pid), `allgatherJson on rank ${r}: every rank's pid in rank order`);
      assert.deepEqual(values[n - 1].nested, [n - 1, 'x']);
    }
    s++;
    // barrier: nobody leaves before the late rank arrives
    const left = results.map((res) => (res[s] as { leftAt: number }).leftAt);
    const waited = results.map((res) => (res[s] as { waitedMs: number }).waitedMs);
    for (let r = 0; r < n - 1; r++) assert.ok(waited[r] >= 400, `rank ${r} waited ${waited[r]} ms at the barrier for the late rank (delayed 500 ms)`);
    assert.ok(Math.max(...left) - Math.min(...left) < 400, `ranks left the barrier together: ${left.join(', ')}`);
  });
}

test('a size-1 group needs no network: every collective is the identity', async () => {
  const { joinGroup } = await import('../../cluster/collectives');
  const g = await joinGroup({ groupId: 'solo', rank: 0, size: 1, key: 'k' });
  const a = intData(0, 5);
  assert.equal(await g.allreduce(a, { op: 'mean' }), a);
  assert.deepEqual(a, intData(0, 5));
  assert.deepEqual(await g.allgatherJson({ x: 1 }), [{ x: 1 }]);
  assert.deepEqual(await g.allgather(a), [a]);
  await g.barrier();
  await g.close();
  await assert.rejects(g.barrier(), /after close/);
});
