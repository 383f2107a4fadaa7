/** The log lines' numbers are Python's: %g, %.Nf and the %.2f timestamp, checked against python3 itself. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { formatF, formatG, timestamp } from '../../src/train';

// exact halves (1234.125, 0.125, 2.5, 1234565), values that round up to a new digit, both exponent
// boundaries, tiny and huge magnitudes, negatives and zeros
const VALUES = [
  1234.125, 0.5, 2.5, 1234565, 999999.5, 0.000123456789, 1e-5, 123456789, 0.1, 1 / 3, -2.5e-7, 0.25, 0.125, 0.375, 1e21, 1.5e300,
  5e-324, 1.7976931348623157e308, 100, 0.0001, 0.00009999995, 12345.65, -0, 0, 0.3198245, 7, 0.6931471824645996, -1234.5, 2.675, 1e16,
];

function python(values: number[]): string[][] {
  const script = `import sys, json
for v in json.loads(sys.argv[1]):
    print(json.dumps(['%g' % v, '%.3g' % v, '%.6f' % v, '%.3f' % v, '%.0f' % v, '%.2f' % v]))`;
  // -0 does not survive JSON: pass it as a string Python turns back into -0.0
  const encoded = JSON.stringify(values.map((v) => (Object.is(v, -0) ? '-0.0' : v))).replace(/"-0\.0"/g, '-0.0');
  return execFileSync('/usr/bin/python3', ['-c', script, encoded], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l));
}

test('formatG and formatF equal Python on exact halves (half to even), carries, exponents and signs', () => {
  const expected = python(VALUES);
  VALUES.forEach((v, i) => {
    const got = [formatG(v), formatG(v, 3), formatF(v, 6), formatF(v, 3), formatF(v, 0), formatF(v, 2)];
    assert.deepEqual(got, expected[i], `value ${v}`);
  });
});

test('the exact halves that JavaScript rounds up and Python to even', () => {
  assert.equal(formatG(1234.125), '1234.12');
  assert.equal((1234.125).toPrecision(6), '1234.13', 'what toPrecision gives');
  assert.equal(formatF(0.125, 2), '0.12');
  assert.equal(formatG(2.5, 1), '2');
  assert.equal(formatG(1234565), '1.23456e+06');
});

test('non-finite values print as Python does', () => {
  assert.deepEqual([formatG(NaN), formatG(Infinity), formatG(-Infinity), formatF(NaN, 6)], ['nan', 'inf', '-inf', 'nan']);
});

test('timestamp is %.2f of seconds since the epoch', () => {
  assert.equal(timestamp(1796425712185), '1796425712.18', '…712.185 s is not exactly representable: below the half, down');
  assert.equal(timestamp(1500), '1.50');
});
