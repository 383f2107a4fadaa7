import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readArrays, writeArrays, readAttributes, Hdf5File, DataFileError } from '../../src/data/index';
import { tmpDir } from './helpers';

test('writeArrays/readArrays round-trip all four array types, scalars, empty arrays, nested names and attributes', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ckpt.h5');
  const arrays = {
    'conv1/kernel': { data: Float32Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 0.5 - 3), shape: [2, 3, 4] },
    'conv1/bias': { data: new Float64Array([1e-300, -2.5, Math.PI]), shape: [3] },
    step: { data: new Int32Array([-7, 2147483647]), shape: [2] },
    mask: { data: new Uint8Array([0, 1, 255]), shape: [3] },
    'meta/step': { data: new Int32Array([1234]), shape: [] },
    empty: { data: new Float32Array(0), shape: [0] },
  };
  await writeArrays(file, arrays, { version: 3, note: 'hello' });
  const back = await readArrays(file);
  assert.deepEqual(Object.keys(back).sort(), Object.keys(arrays).sort());
  for (const [name, a] of Object.entries(arrays)) {
    assert.deepEqual(back[name].shape, a.shape, name);
    assert.equal(back[name].data.constructor, a.data.constructor, name);
    assert.deepEqual(Array.from(back[name].data), Array.from(a.data), name);
  }
  const attrs = await readAttributes(file);
  assert.equal(attrs.version, 3);
  assert.equal(attrs.note, 'hello');
  assert.deepEqual(fs.readdirSync(dir), ['ckpt.h5'], 'no temporary files left behind');
});

test('writeArrays rejects a shape that does not match the data, naming file and dataset', async () => {
  const file = path.join(tmpDir(), 'bad.h5');
  await assert.rejects(writeArrays(file, { w: { data: new Float32Array(5), shape: [2, 3] } }), (e: Error) => {
    assert.ok(e instanceof DataFileError);
    assert.match(e.message, /bad\.h5: dataset 'w' has 5 values but shape \[2,3\] needs 6/);
    return true;
  });
  assert.equal(fs.existsSync(file), false);
});

test('opening a missing, empty, non-HDF5 or truncated file fails with the file name and the reason', async () => {
  const dir = tmpDir();
  const good = path.join(dir, 'good.h5');
  await writeArrays(good, { x: { data: new Float32Array(20000), shape: [20000] } });
  const cases: [string, (p: string) => void, RegExp][] = [
    ['missing.h5', () => {}, /missing\.h5: does not exist/],
    ['empty.h5', (p) => fs.writeFileSync(p, ''), /empty\.h5: is empty/],
    ['text.h5', (p) => fs.writeFileSync(p, 'this is not hdf5\n'.repeat(100)), /text\.h5: is not an HDF5 file/],
    ['trunc.h5', (p) => fs.writeFileSync(p, fs.readFileSync(good).subarray(0, 30000)), /trunc\.h5: is truncated: 30000 bytes on disk, but its HDF5 superblock says \d+/],
  ];
  for (const [name, make, re] of cases) {
    const p = path.join(dir, name);
    make(p);
    await assert.rejects(Hdf5File.open(p), (e: Error) => {
      assert.ok(e instanceof DataFileError, name);
      assert.match(e.message, re);
      return true;
    });
    await assert.rejects(readArrays(p), re);
  }
  // the wasm module is still healthy after all those failures
  assert.equal((await readArrays(good)).x.data.length, 20000);
});

test('the same arrays written at different times give byte-identical files (no HDF5 object timestamps)', async () => {
  const dir = tmpDir();
  const arrays = { data: { data: Float32Array.from({ length: 48 }, (_, i) => i / 7), shape: [2, 3, 2, 4] }, 'g/label': { data: Int32Array.from([0, 1]), shape: [2] } };
  await writeArrays(path.join(dir, 'a.h5'), arrays, { seed: 3 });
  // a writer that stamps the wall clock into object headers would differ here
  const realNow = Date.now;
  Date.now = () => realNow() + 86_400_000 * 365;
  try {
    await writeArrays(path.join(dir, 'b.h5'), arrays, { seed: 3 });
  } finally {
    Date.now = realNow;
  }
  const [a, b] = ['a.h5', 'b.h5'].map((f) => fs.readFileSync(path.join(dir, f)));
  assert.ok(a.length > 0 && a.equals(b), 'files differ');
  assert.deepEqual((await readArrays(path.join(dir, 'b.h5'))).data.data, arrays.data.data);
});
