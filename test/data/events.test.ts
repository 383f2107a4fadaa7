import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EventFile, DataFileError, openEventSource } from '../../src/data/index';
import { tmpDir, py, writeIdFile, pixelValue } from './helpers';

/** h5py script: writes a seed-layout file of n events, then applies `tweak` (python statements using f and n). */
function h5pyFile(file: string, tweak: string, n = 6): void {
  py(
    `import sys, h5py, numpy as np
n = ${n}
with h5py.File(sys.argv[1], 'w') as f:
    d = {'data': np.random.rand(n, 3, 4, 5).astype('f4'), 'label': (np.arange(n) % 2).astype('i8'),
         'normweight': np.ones(n, 'f4'), 'weight': np.ones(n, 'f8'), 'psr': np.zeros(n, 'i4')}
${tweak.split('\n').map((l) => '    ' + l).join('\n')}
    for k, v in d.items():
        if v is not None: f[k] = v
`,
    file,
  );
}

async function rejectsWith(file: string, re: RegExp): Promise<void> {
  await assert.rejects(EventFile.open(file, { warn: () => {} }), (e: Error) => {
    assert.ok(e instanceof DataFileError, `expected DataFileError, got ${e}`);
    assert.ok(e.message.startsWith(file + ':'), `message names the file: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

test('seed layout: shape, scalars and images read exactly; int64 labels and float64 weights are converted', async () => {
  const dir = tmpDir();
  const ours = path.join(dir, 'ours.h5');
  await writeIdFile(ours, 10, 7);
  const f = await EventFile.open(ours);
  try {
    assert.equal(f.info.layout, 'seed');
    assert.deepEqual([f.info.numEvents, f.info.channels, f.info.height, f.info.width], [7, 3, 4, 5]);
    const sc = f.scalars();
    assert.deepEqual(Array.from(sc.label), [0, 1, 0, 1, 0, 1, 0]);
    assert.deepEqual(Array.from(sc.weight), [10, 11, 12, 13, 14, 15, 16]);
    assert.deepEqual(Array.from(sc.psr), [0, 0, 1, 0, 0, 1, 0]);
    const img = new Float32Array(2 * 60);
    f.readImages(3, 2, img);
    assert.equal(img[0], pixelValue(13, 0, 0, 0));
    assert.equal(img[60 + 20 + 5 + 2], pixelValue(14, 1, 1, 2));
  } finally {
    f.close();
  }
  const theirs = path.join(dir, 'theirs.h5');
  h5pyFile(theirs, '');
  const g = await EventFile.open(theirs);
  assert.deepEqual(Array.from(g.scalars().label), [0, 1, 0, 1, 0, 1]);
  assert.equal(g.scalars().weight.constructor, Float32Array);
  g.close();
});

test('legacy layout all_events/{hist,y,normalized_weight,weight}: one channel, psr 0 with a warning', async () => {
  const file = path.join(tmpDir(), 'legacy_train.h5');
  py(
    `import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    g = f.create_group('all_events')
    g['hist'] = np.arange(4*6*7, dtype='f4').reshape(4, 6, 7)
    g['y'] = np.array([1, 0, 1, 1], 'f8')
    g['normalized_weight'] = np.array([.5, .25, 1, 2], 'f4')
    g['weight'] = np.array([5, 6, 7, 8], 'f4')
`,
    file,
  );
  const warnings: string[] = [];
  const f = await EventFile.open(file, { warn: (s) => warnings.push(s) });
  assert.equal(f.info.layout, 'legacy');
  assert.deepEqual([f.info.numEvents, f.info.channels, f.info.height, f.info.width], [4, 1, 6, 7]);
  assert.equal(f.info.hasPsr, false);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /legacy_train\.h5: legacy layout has no 'psr'.*treating psr as 0/);
  assert.deepEqual(Array.from(f.scalars().label), [1, 0, 1, 1]);
  assert.deepEqual(Array.from(f.scalars().psr), [0, 0, 0, 0]);
  f.close();
  const src = await openEventSource({ files: [file], split: 'train', batchSize: 3, layout: 'NHWC', shuffle: false, log: () => {} });
  const b = (await src.next())!;
  assert.deepEqual(b.shape, [3, 6, 7, 1]);
  assert.equal(b.images[42 + 8], 42 + 8);
  assert.deepEqual(Array.from(b.normweight), [0.5, 0.25, 1]);
  await src.close();
});

test('mis-shaped files fail naming the file, the dataset and the shape', async () => {
  const dir = tmpDir();
  const cases: [string, string, RegExp][] = [
    ['not4d', "d['data'] = np.zeros((n, 3, 20), 'f4')", /dataset 'data' must be 4-D \{N,3,H,W\}, got shape \[6,3,20\]/],
    ['channels', "d['data'] = np.zeros((n, 4, 4, 5), 'f4')", /dataset 'data' must have 3 channels .* got shape \[6,4,4,5\]/],
    ['nhwc', "d['data'] = np.zeros((n, 4, 5, 3), 'f4')", /dataset 'data' must have 3 channels/],
    ['nmismatch', "d['weight'] = np.ones(n - 1, 'f4')", /dataset 'weight' has 5 entries but 'data' has 6 events/],
    ['label2d', "d['label'] = np.zeros((n, 2), 'i4')", /dataset 'label' must be 1-D \{N\}, got shape \[6,2\]/],
    ['labelvalues', "d['label'] = np.arange(n)", /dataset 'label' must hold class labels 0 or 1, got 2 at event 2/],
  ];
  for (const [name, tweak, re] of cases) {
    const file = path.join(dir, `${name}.h5`);
    h5pyFile(file, tweak);
    if (name === 'labelvalues') {
      const f = await EventFile.open(file);
      assert.throws(() => f.scalars(), re);
      f.close();
    } else {
      await rejectsWith(file, re);
    }
  }
});

test('wrong dtypes (strings, compound) fail naming the dataset and the type', async () => {
  const dir = tmpDir();
  const strFile = path.join(dir, 'strdata.h5');
  h5pyFile(strFile, "d['data'] = np.array([b'abc'] * n)");
  await rejectsWith(strFile, /dataset 'data' has type string, expected numbers/);
  const compFile = path.join(dir, 'compound.h5');
  h5pyFile(compFile, "d['label'] = np.zeros(n, dtype=[('a', 'f4'), ('b', 'i4')])");
  await rejectsWith(compFile, /dataset 'label' has type compound, expected numbers/);
  const vlenFile = path.join(dir, 'vlen.h5');
  h5pyFile(vlenFile, "d['psr'] = np.array(['x'] * n, dtype=h5py.string_dtype())");
  await rejectsWith(vlenFile, /dataset 'psr' has type string/);
});

test('a missing dataset is named', async () => {
  const dir = tmpDir();
  const noPsr = path.join(dir, 'nopsr.h5');
  h5pyFile(noPsr, "d['psr'] = None");
  await rejectsWith(noPsr, /dataset 'psr' is missing/);
  const noData = path.join(dir, 'nodata.h5');
  h5pyFile(noData, "d['data'] = None");
  await rejectsWith(noData, /missing dataset 'data' \(seed layout; or 'all_events\/hist' for the legacy layout\); it has 'label', 'normweight', 'psr', 'weight'/);
  const legacyNoY = path.join(dir, 'legacy.h5');
  py(`import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    f['all_events/hist'] = np.zeros((2, 3, 3), 'f4')
    f['all_events/weight'] = np.zeros(2, 'f4')
    f['all_events/normalized_weight'] = np.zeros(2, 'f4')
`, legacyNoY);
  await rejectsWith(legacyNoY, /dataset 'all_events\/y' is missing/);
});

test('truncated and corrupt event files fail cleanly (no crash) and later files still read', async () => {
  const dir = tmpDir();
  const good = path.join(dir, 'good.h5');
  await writeIdFile(good, 0, 50);
  const bytes = fs.readFileSync(good);
  const truncated = path.join(dir, 'truncated.h5');
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  await rejectsWith(truncated, /is truncated: \d+ bytes on disk, but its HDF5 superblock says \d+/);
  // corrupt the metadata after the superblock (object headers, heaps): overwrite bytes 96..2048
  const corrupt = path.join(dir, 'corrupt.h5');
  const c = Buffer.from(bytes);
  for (let i = 96; i < 2048; i++) c[i] = (i * 37) & 0xff;
  fs.writeFileSync(corrupt, c);
  await assert.rejects(EventFile.open(corrupt, { warn: () => {} }), (e: Error) => {
    assert.ok(e instanceof DataFileError);
    assert.ok(e.message.startsWith(corrupt + ':'), e.message);
    return true;
  });
  const f = await EventFile.open(good);
  assert.equal(f.info.numEvents, 50);
  f.close();
});
