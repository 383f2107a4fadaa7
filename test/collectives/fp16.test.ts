/** The fp16 wire conversion: bit-exact round to nearest even against a reference built from Math.fround arithmetic. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHalf, encodeHalf, roundToHalf } from '../../cluster/collectives/fp16';

/** reference: the nearest half (ties to even) by exhaustive search over the 65536 half values' decoded floats */
function referenceHalfTable(): Float64Array {
  const all = new Uint16Array(65536).map((_, i) => i);
  const f = new Float32Array(65536);
  decodeHalf(all, f);
  return Float64Array.from(f);
}

test('decodeHalf: known values', () => {
  const h = new Uint16Array([0x0000, 0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x7c00, 0xfc00, 0x3555]);
  const f = new Float32Array(h.length);
  decodeHalf(h, f);
  assert.deepEqual(Array.from(f.slice(0, 8)), [0, 1, -2, 65504, 2 ** -24, 2 ** -14, Infinity, -Infinity]);
  assert.equal(f[8], Math.fround(0.333251953125));
  const nan = new Float32Array(1);
  decodeHalf(new Uint16Array([0x7e00]), nan);
  assert.ok(Number.isNaN(nan[0]));
});

test('encodeHalf: nearest half, ties to even, overflow to infinity, subnormals, on 200k random and edge floats', () => {
  const table = referenceHalfTable();
  const positives: number[] = [];
  for (let h = 0; h < 0x7c00; h++) positives.push(table[h]);
  const nearest = (x: number): number => {
    if (Number.isNaN(x)) return NaN;
    const a = Math.abs(x);
    if (a >= 65520) return Math.sign(x) * Infinity;
    let lo = 0;
    let hi = positives.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (positives[mid] <= a) lo = mid;
      else hi = mid;
    }
    const dl = a - positives[lo];
    const dh = positives[hi] - a;
    const pick = dl < dh ? lo : dh < dl ? hi : lo % 2 === 0 ? lo : hi;
    return (x < 0 || Object.is(x, -0) ? -1 : 1) * positives[pick];
  };
  const xs = new Float32Array(200_000);
  let s = 12345;
  for (let i = 0; i < xs.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    xs[i] = (s / 2 ** 32 - 0.5) * 2 ** ((i % 44) - 28);
  }
  xs.set([0, -0, 1, 65504, 65519, 65520, 1e9, -1e9, 2 ** -25, 2 ** -24, 1.5 * 2 ** -24, 2 ** -14, 1 + 2 ** -11, 1 + 3 * 2 ** -11], 0);
  const h = new Uint16Array(xs.length);
  const back = new Float32Array(xs.length);
  encodeHalf(xs, h);
  decodeHalf(h, back);
  for (let i = 0; i < xs.length; i++) {
    const want = nearest(xs[i]);
    if (!Object.is(back[i], Math.fround(want)) && !(back[i] === 0 && want === 0)) assert.fail(`element ${i}: ${xs[i]} encodes to ${back[i]}, nearest half is ${want}`);
    assert.equal(roundToHalf(xs[i]), back[i]);
  }
});
