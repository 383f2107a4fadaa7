import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { validateSpace, sampleParams, toUnit, fromUnit, dimensionOrder, SpaceEncoder, activeNames } from '../../src/hpo';
import { Rng } from '../../src/data/rng';

test('space validation errors name the dimension and the field', () => {
  const bad: [unknown, RegExp][] = [
    [{ lr: { type: 'float', low: 1, high: 0.1 } }, /SpaceError: space\.lr: low must be < high, got 1 and 0\.1$/],
    [{ lr: { type: 'float', low: 0, high: 1, log: true } }, /space\.lr: a log dimension needs low > 0, got 0/],
    [{ n: { type: 'int', low: 1.5, high: 4 } }, /space\.n: low and high of an int dimension must be integers/],
    [{ n: { type: 'int', low: 1, high: 8, step: 3 } }, /space\.n: high - low must be a multiple of step/],
    [{ opt: { type: 'categorical', choices: [] } }, /space\.opt\.choices must be a non-empty array/],
    [{ opt: { type: 'categorical', choices: ['adam', 'adam'] } }, /space\.opt\.choices: "adam" appears twice/],
    [{ x: { type: 'real', low: 0, high: 1 } }, /space\.x\.type must be "int", "float" or "categorical", got "real"/],
    [{ x: { type: 'float', low: 0, hgih: 1 } }, /space\.x: unknown field "hgih"/],
    [{ x: { type: 'float', low: 0, high: 'big' } }, /space\.x\.high must be a finite number, got "big"/],
    [{ fc: { type: 'int', low: 8, high: 64, when: { head: [64] } } }, /space\.fc\.when\.head: no such dimension/],
    [{ head: { type: 'categorical', choices: [32, 64] }, fc: { type: 'int', low: 8, high: 64, when: { head: [128] } } }, /space\.fc\.when\.head: 128 is not a possible value of head/],
    [{ a: { type: 'categorical', choices: [1, 2], when: { b: [1] } }, b: { type: 'categorical', choices: [1, 2], when: { a: [1] } } }, /conditions form a cycle/],
    [{}, /space has no dimensions/],
    [[1, 2], /space must be an object of named dimensions, got an array/],
  ];
  for (const [space, re] of bad) assert.throws(() => validateSpace(space), re, JSON.stringify(space));
});

const MIXED = validateSpace({
  fc_units: { type: 'int', low: 16, high: 256, step: 16, when: { head: [64] } },
  lr: { type: 'float', low: 1e-5, high: 1e-1, log: true },
  filters: { type: 'int', low: 4, high: 64, log: true },
  dropout: { type: 'float', low: 0, high: 0.5 },
  head: { type: 'categorical', choices: [32, 64, 'none'] },
  optimizer: { type: 'categorical', choices: ['adam', 'sgd'] },
  momentum: { type: 'float', low: 0.5, high: 0.99, when: { optimizer: ['sgd'] } },
});

test('conditions are ordered after their parents; samples hold exactly the active dimensions', () => {
  const order = dimensionOrder(MIXED);
  assert.ok(order.indexOf('head') < order.indexOf('fc_units'));
  assert.ok(order.indexOf('optimizer') < order.indexOf('momentum'));
  const rng = new Rng(3);
  let withFc = 0;
  for (let i = 0; i < 300; i++) {
    const p = sampleParams(MIXED, rng);
    assert.equal(p.fc_units !== undefined, p.head === 64);
    assert.equal(p.momentum !== undefined, p.optimizer === 'sgd');
    assert.deepEqual(activeNames(MIXED, p).sort(), Object.keys(p).sort());
    if (p.fc_units !== undefined) {
      withFc++;
      assert.equal((p.fc_units as number) % 16, 0);
    }
    assert.ok((p.lr as number) >= 1e-5 && (p.lr as number) <= 1e-1);
    assert.ok(Number.isInteger(p.filters) && (p.filters as number) >= 4 && (p.filters as number) <= 64);
  }
  assert.ok(withFc > 50 && withFc < 150, `head=64 about a third of the time, got ${withFc}/300`);
});

test('unit values round-trip; log dimensions are uniform in log space; integers own equal cells', () => {
  const lr = MIXED.lr;
  assert.ok(Math.abs((fromUnit(lr, 0.5) as number) - 1e-3) < 1e-12);
  for (const v of [1e-5, 3e-4, 0.1]) assert.ok(Math.abs((fromUnit(lr, toUnit(lr, v)) as number) - v) < 1e-12);
  const f = MIXED.filters;
  for (let v = 4; v <= 64; v++) assert.equal(fromUnit(f, toUnit(f, v)), v);
  const n = { type: 'int' as const, low: 0, high: 3 };
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 4000; i++) counts[fromUnit(n, (i + 0.5) / 4000) as number]++;
  assert.deepEqual(counts, [1000, 1000, 1000, 1000]);
  const enc = new SpaceEncoder(MIXED);
  assert.equal(enc.width, 1 + 1 + 1 + 1 + 3 + 2 + 1);
  const x = enc.encode({ lr: 1e-3, filters: 16, dropout: 0.25, head: 'none', optimizer: 'adam' });
  assert.deepEqual(Array.from(x).map((v) => Math.round(v * 1000) / 1000), [0.5, 0.5, Math.round(toUnit(f, 16) * 1000) / 1000, 0.5, 0, 0, 1, 1, 0, 0.5]);
});
