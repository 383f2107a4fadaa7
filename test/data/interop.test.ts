import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { EventFile, chwToHwc, openEventSource, writeArrays, writeEventFile, inspectFile, synthesize } from '../../src/data/index';
import { tmpDir, py, batchIds } from './helpers';

test('h5py-written seed files (chunked, gzip, shuffle filter, int64 labels) read exactly', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'h5py_train.h5');
  // values are a deterministic function of the index, so both sides can compute them
  py(
    `import sys, h5py, numpy as np
n = 37
data = (np.arange(n * 3 * 8 * 6, dtype='f8') * 0.37 % 11.0 - 5).astype('f4').reshape(n, 3, 8, 6)
with h5py.File(sys.argv[1], 'w') as f:
    kw = dict(chunks=True, compression='gzip', compression_opts=6, shuffle=True)
    f.create_dataset('data', data=data, chunks=(5, 3, 8, 6), compression='gzip', compression_opts=6, shuffle=True)
    f.create_dataset('label', data=np.arange(n) % 2, **kw)
    f.create_dataset('normweight', data=np.linspace(0, 1, n, dtype='f4'), **kw)
    f.create_dataset('weight', data=np.arange(n, dtype='f8') * 2.5, **kw)
    f.create_dataset('psr', data=(np.arange(n) % 5 == 0), **kw)
`,
    file,
  );
  const f = await EventFile.open(file);
  assert.deepEqual(f.info.imageInfo.filters, ['shuffle', 'deflate']);
  assert.deepEqual(f.info.imageInfo.chunks, [5, 3, 8, 6]);
  f.close();
  const src = await openEventSource({ files: [file], split: 'train', batchSize: 10, layout: 'NCHW', shuffle: false });
  const images: number[] = [];
  const label: number[] = [];
  const weight: number[] = [];
  const normweight: number[] = [];
  const psr: number[] = [];
  for (let b = await src.next(); b; b = await src.next()) {
    images.push(...b.images);
    label.push(...b.label);
    weight.push(...b.weight);
    normweight.push(...b.normweight);
    psr.push(...b.psr);
  }
  await src.close();
  const n = 37;
  const expected = Float32Array.from({ length: n * 3 * 8 * 6 }, (_, i) => Math.fround(((i * 0.37) % 11.0) - 5));
  assert.equal(images.length, expected.length);
  for (let i = 0; i < expected.length; i++) if (images[i] !== expected[i]) assert.fail(`pixel ${i}: ${images[i]} !== ${expected[i]}`);
  assert.deepEqual(label, Array.from({ length: n }, (_, i) => i % 2));
  assert.deepEqual(weight, Array.from({ length: n }, (_, i) => i * 2.5));
  assert.deepEqual(normweight, Array.from(Float32Array.from({ length: n }, (_, i) => i / (n - 1))));
  assert.deepEqual(psr, Array.from({ length: n }, (_, i) => (i % 5 === 0 ? 1 : 0)));
  // shuffled reads of the compressed file are a permutation with matching scalars: every event
  // exactly once, its image (NHWC) and scalars those of the same file event
  const sh = await openEventSource({ files: [file], split: 'train', batchSize: 8, layout: 'NHWC', seed: 9 });
  const per = 3 * 8 * 6;
  const reference = Array.from({ length: n }, (_, e) => {
    const hwc = new Float32Array(per);
    chwToHwc(expected.subarray(e * per, (e + 1) * per), hwc, 0, 3, 8, 6);
    return hwc;
  });
  const order: number[] = [];
  for (let b = await sh.next(); b; b = await sh.next()) {
    assert.equal(b.images.length, b.label.length * per);
    for (let k = 0; k < b.label.length; k++) {
      const image = b.images.subarray(k * per, (k + 1) * per);
      const e = reference.findIndex((ref) => ref.every((v, j) => v === image[j]));
      assert.ok(e >= 0, `batch event ${order.length}: its image is none of the file's`);
      assert.deepEqual([b.label[k], b.weight[k], b.normweight[k], b.psr[k]], [label[e], weight[e], normweight[e], psr[e]], `scalars of event ${e}`);
      order.push(e);
    }
  }
  assert.deepEqual([...order].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i), 'each event exactly once');
  assert.notDeepEqual(order, Array.from({ length: n }, (_, i) => i), 'shuffled, not in file order');
  await sh.close();
});

test('files hpcdl writes (contiguous and chunked+gzip) read back in h5py with equal values, and h5ls lists them', async () => {
  const dir = tmpDir();
  const n = 9;
  const data = Float32Array.from({ length: n * 3 * 4 * 4 }, (_, i) => Math.sin(i) * 100);
  const label = Int32Array.from({ length: n }, (_, i) => (i * 7) % 2);
  const weight = Float32Array.from({ length: n }, (_, i) => 1 / (i + 1));
  const normweight = Float32Array.from({ length: n }, (_, i) => i + 0.5);
  const psr = Uint8Array.from({ length: n }, (_, i) => (i > 4 ? 1 : 0));
  const plain = path.join(dir, 'plain.h5');
  const packed = path.join(dir, 'packed.h5');
  await writeEventFile(plain, { data, imageShape: [3, 4, 4], label, weight, normweight, psr }, { attrs: { origin: 'test' } });
  await writeEventFile(packed, { data, imageShape: [3, 4, 4], label, weight, normweight, psr }, { chunkEvents: 4, gzip: 5 });
  for (const file of [plain, packed]) {
    const out = JSON.parse(
      py(
        `import sys, json, h5py, numpy as np
with h5py.File(sys.argv[1], 'r') as f:
    r = {k: {'shape': list(f[k].shape), 'dtype': f[k].dtype.str, 'values': f[k][()].ravel().astype('f8').tolist(),
             'chunks': f[k].chunks, 'compression': f[k].compression} for k in f.keys()}
    r['attrs'] = {k: (v.decode() if isinstance(v, bytes) else str(v)) for k, v in f.attrs.items()}
print(json.dumps(r))`,
        file,
      ),
    );
    assert.deepEqual(out.data.shape, [n, 3, 4, 4]);
    assert.equal(out.data.dtype, '<f4');
    assert.deepEqual(out.data.values, Array.from(data));
    assert.deepEqual(out.label.values, Array.from(label));
    assert.equal(out.label.dtype, '<i4');
    assert.deepEqual(out.weight.values, Array.from(weight));
    assert.deepEqual(out.normweight.values, Array.from(normweight));
    assert.deepEqual(out.psr.values, Array.from(psr));
    if (file === packed) {
      assert.deepEqual(out.data.chunks, [4, 3, 4, 4]);
      assert.equal(out.data.compression, 'gzip');
    } else {
      assert.equal(out.data.chunks, null);
      assert.equal(out.attrs.origin, 'test');
    }
    const listing = execFileSync('h5ls', [file], { encoding: 'utf8' });
    assert.match(listing, /^data\s+Dataset \{9, 3, 4, 4\}$/m);
    for (const k of ['label', 'normweight', 'psr', 'weight']) assert.match(listing, new RegExp(`^${k}\\s+Dataset \\{9\\}$`, 'm'));
  }
  // generic arrays (checkpoints) too
  const ckpt = path.join(dir, 'ckpt.h5');
  await writeArrays(ckpt, { 'dense/kernel': { data: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3] } });
  const v = py(`import sys, h5py\nwith h5py.File(sys.argv[1]) as f: print(f['dense/kernel'][1, 2], f['dense/kernel'].shape)`, ckpt).trim();
  assert.equal(v, '6.0 (2, 3)');
  assert.match(execFileSync('h5ls', ['-r', ckpt], { encoding: 'utf8' }), /^\/dense\/kernel\s+Dataset \{2, 3\}$/m);
});

test('synthesized files are valid for h5py: channel maxima attribute, and each channel of the train split peaks at 1', async () => {
  const dir = tmpDir();
  const s = await synthesize({ outDir: dir, size: 64, events: 300, seed: 5, trainFiles: 2 });
  const train = s.files.filter((f) => f.split === 'train').map((f) => f.path);
  assert.equal(train.length, 2);
  const out = JSON.parse(
    py(
      `import sys, json, h5py, numpy as np
mx = np.zeros(3)
attrs = None
for p in sys.argv[1:]:
    with h5py.File(p) as f:
        mx = np.maximum(mx, f['data'][()].max(axis=(0, 2, 3)))
        attrs = f.attrs['channel_max'].tolist()
print(json.dumps({'max': mx.tolist(), 'attr': attrs}))`,
      ...train,
    ),
  );
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(out.max[c] - 1) < 1e-6, `channel ${c} max ${out.max[c]}`);
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(out.attr[c] - s.channelMax[c]) < 1e-9 * s.channelMax[c]);
  const rep = await inspectFile(train[0]);
  assert.equal(rep.layout, 'seed');
  // and the batches we read for an event equal what h5py reads for it
  const src = await openEventSource({ files: [train[1]], split: 'train', batchSize: 4, layout: 'NCHW', shuffle: false });
  const b = (await src.next())!;
  const sum = Number(py(`import sys, h5py\nwith h5py.File(sys.argv[1]) as f: print(repr(float(f['data'][3].astype('f8').sum())))`, train[1]));
  let ours = 0;
  for (let i = 3 * 3 * 64 * 64; i < 4 * 3 * 64 * 64; i++) ours += b.images[i];
  assert.ok(Math.abs(ours - sum) < 1e-6 * Math.max(1, Math.abs(sum)), `${ours} vs ${sum}`);
  assert.equal(batchIds.length, 2);
  await src.close();
});
