import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { discoverFiles, shardFiles, openEventSource, BatchSource, EventBatch, EventSourceOptions, DataOptionsError, DataFileError, Hdf5File } from '../../src/data/index';
import { tmpDir, writeIdFile, batchIds, pixelValue, py } from './helpers';

async function drain(src: BatchSource): Promise<EventBatch[]> {
  const out: EventBatch[] = [];
  for (let b = await src.next(); b; b = await src.next()) out.push(b);
  return out;
}

function ids(batches: EventBatch[]): number[] {
  return batches.flatMap((b) => batchIds(b.images, b.label.length));
}

/** three train files with ids 0..9, 100..116, 200..204, plus val/test/other files */
async function makeDir(): Promise<string> {
  const dir = tmpDir();
  await writeIdFile(path.join(dir, 'a_train.h5'), 0, 10);
  await writeIdFile(path.join(dir, 'b_train.hdf5'), 100, 17);
  await writeIdFile(path.join(dir, 'c_train.h5'), 200, 5);
  await writeIdFile(path.join(dir, 'val.h5'), 300, 4);
  fs.writeFileSync(path.join(dir, 'train_notes.txt'), 'not data');
  return dir;
}

const ALL_TRAIN = [...Array.from({ length: 10 }, (_, i) => i), ...Array.from({ length: 17 }, (_, i) => 100 + i), ...Array.from({ length: 5 }, (_, i) => 200 + i)];

test('discoverFiles: split substring, .h5/.hdf5 only, sorted; a file path is taken as is', async () => {
  const dir = await makeDir();
  assert.deepEqual(discoverFiles(dir, 'train').map((f) => path.basename(f)), ['a_train.h5', 'b_train.hdf5', 'c_train.h5']);
  assert.deepEqual(discoverFiles(dir, 'val').map((f) => path.basename(f)), ['val.h5']);
  assert.deepEqual(discoverFiles(dir, 'test'), []);
  assert.deepEqual(discoverFiles(path.join(dir, 'val.h5'), 'val'), [path.join(dir, 'val.h5')]);
  assert.throws(() => discoverFiles(path.join(dir, 'nope'), 'train'), /input path .*nope does not exist/);
  await assert.rejects(openEventSource({ inputPath: dir, split: 'test', batchSize: 4, layout: 'NCHW' }), /no test files in .*: names must contain 'test'/);
});

test('shardFiles: floor(n/size) consecutive files per rank, leftovers reported; null when n < size', () => {
  const files = ['f0', 'f1', 'f2', 'f3', 'f4'];
  assert.deepEqual(shardFiles(files, 0, 2), { files: ['f0', 'f1'], unused: ['f4'] });
  assert.deepEqual(shardFiles(files, 1, 2), { files: ['f2', 'f3'], unused: ['f4'] });
  assert.deepEqual(shardFiles(files, 4, 5)!.files, ['f4']);
  assert.equal(shardFiles(files, 0, 6), null);
});

test('no shuffle: events in file order, batches span files, last batch smaller; NCHW values exact', async () => {
  const dir = await makeDir();
  const src = await openEventSource({ inputPath: dir, split: 'train', batchSize: 7, layout: 'NCHW', shuffle: false });
  assert.equal(src.numEvents, 32);
  const batches = await drain(src);
  assert.deepEqual(batches.map((b) => b.label.length), [7, 7, 7, 7, 4]);
  assert.deepEqual(ids(batches), ALL_TRAIN);
  const b1 = batches[1]; // events 7,8,9 of file a then 100.. of file b
  assert.deepEqual(b1.shape, [7, 3, 4, 5]);
  assert.equal(b1.images[3 * 60 + 2 * 20 + 3 * 5 + 4], pixelValue(100, 2, 3, 4));
  assert.deepEqual(Array.from(b1.label), [1, 0, 1, 0, 1, 0, 1]);
  assert.deepEqual(Array.from(b1.weight), [7, 8, 9, 100, 101, 102, 103]);
  assert.deepEqual(Array.from(b1.normweight), [3.5, 4, 4.5, 50, 50.5, 51, 51.5]);
  assert.deepEqual(Array.from(b1.psr), [0, 0, 1, 0, 0, 1, 0]);
  assert.equal(await src.next(), null, 'stays at the end until startEpoch');
  src.startEpoch(1);
  assert.deepEqual(ids(await drain(src)), ALL_TRAIN);
  await src.close();
});

test('NHWC layout is the exact transpose of the file data', async () => {
  const dir = await makeDir();
  const src = await openEventSource({ files: [path.join(dir, 'c_train.h5')], split: 'train', batchSize: 5, layout: 'NHWC', shuffle: false });
  const b = (await src.next())!;
  assert.deepEqual(b.shape, [5, 4, 5, 3]);
  for (let k = 0; k < 5; k++) for (let h = 0; h < 4; h++) for (let w = 0; w < 5; w++) for (let c = 0; c < 3; c++) {
    assert.equal(b.images[((k * 4 + h) * 5 + w) * 3 + c], pixelValue(200 + k, c, h, w));
  }
  await src.close();
});

test('shuffle: every event exactly once per epoch, deterministic for a seed, different per epoch and seed; scalars follow images', async () => {
  const dir = await makeDir();
  const open = (seed: number, extra: Partial<EventSourceOptions> = {}) =>
    openEventSource({ inputPath: dir, split: 'train', batchSize: 6, layout: 'NCHW', seed, ...extra });
  const a = await open(1);
  const e0 = await drain(a);
  for (const b of e0) batchIds(b.images, b.label.length).forEach((id, k) => {
    assert.equal(b.weight[k], id);
    assert.equal(b.label[k], id % 2);
  });
  const order0 = ids(e0);
  assert.deepEqual([...order0].sort((x, y) => x - y), ALL_TRAIN);
  assert.notDeepEqual(order0, ALL_TRAIN);
  a.startEpoch(1);
  const order1 = ids(await drain(a));
  assert.deepEqual([...order1].sort((x, y) => x - y), ALL_TRAIN);
  assert.notDeepEqual(order1, order0);
  a.startEpoch(0);
  assert.deepEqual(ids(await drain(a)), order0, 'same seed and epoch give the same order');
  const b = await open(1, { prefetch: 0 });
  assert.deepEqual(ids(await drain(b)), order0, 'prefetch does not change the order');
  const c = await open(2);
  assert.notDeepEqual(ids(await drain(c)), order0);
  // a shuffle window far smaller than a file still yields a permutation of all events
  const d = await open(1, { shuffleBufferBytes: 1 });
  const small = ids(await drain(d));
  assert.deepEqual([...small].sort((x, y) => x - y), ALL_TRAIN);
  for (const s of [a, b, c, d]) await s.close();
});

test('dropRemainder drops the last smaller batch and numEvents counts what is served', async () => {
  const dir = await makeDir();
  const src = await openEventSource({ inputPath: dir, split: 'train', batchSize: 7, layout: 'NCHW', dropRemainder: true });
  assert.equal(src.numEvents, 28);
  const batches = await drain(src);
  assert.deepEqual(batches.map((b) => b.label.length), [7, 7, 7, 7]);
  await src.close();
});

test('ranks: contiguous file shards; with fewer files than ranks, disjoint event slices that cover everything', async () => {
  const dir = await makeDir();
  const logs: string[] = [];
  const opts = { inputPath: dir, split: 'train' as const, batchSize: 4, layout: 'NCHW' as const, shuffle: false, log: (s: string) => logs.push(s) };
  const r0 = await openEventSource({ ...opts, rank: 0, size: 2 });
  const r1 = await openEventSource({ ...opts, rank: 1, size: 2 });
  assert.deepEqual(ids(await drain(r0)), ALL_TRAIN.slice(0, 10));
  assert.deepEqual(ids(await drain(r1)), ALL_TRAIN.slice(10, 27));
  assert.match(logs.join('\n'), /3 train files over 2 workers: 1 left over and unused \(c_train\.h5\)/);
  const seen: number[] = [];
  for (let r = 0; r < 5; r++) {
    const s = await openEventSource({ ...opts, rank: r, size: 5 });
    const got = ids(await drain(s));
    assert.equal(s.numEvents, got.length);
    assert.ok(got.length === 6 || got.length === 7, `rank ${r}: ${got.length}`);
    seen.push(...got);
    await s.close();
  }
  assert.deepEqual(seen, ALL_TRAIN);
  await r0.close();
  await r1.close();
  await assert.rejects(openEventSource({ ...opts, rank: 2, size: 2 }), /rank must be an integer in \[0, 2\), got 2/);
});

test('files with different image shapes, or not the expected shape, are rejected by name', async () => {
  const dir = await makeDir();
  const other = path.join(dir, 'd_train.h5');
  const { writeEventFile } = await import('../../src/data/index');
  await writeEventFile(other, { data: new Float32Array(2 * 3 * 2 * 2), imageShape: [3, 2, 2], label: new Int32Array(2), weight: new Float32Array(2), normweight: new Float32Array(2), psr: new Uint8Array(2) });
  await assert.rejects(openEventSource({ inputPath: dir, split: 'train', batchSize: 4, layout: 'NCHW' }), (e: Error) => {
    assert.ok(e instanceof DataFileError);
    assert.match(e.message, /d_train\.h5: dataset 'data' has images of \[C,H,W\] = \[3,2,2\], but .*a_train\.h5 has \[3,4,5\]/);
    return true;
  });
  await assert.rejects(openEventSource({ files: [path.join(dir, 'val.h5')], split: 'val', batchSize: 4, layout: 'NCHW', imageShape: [3, 64, 64] }), /val\.h5: dataset 'data' has images of \[C,H,W\] = \[3,4,5\], but the expected input shape has \[3,64,64\]/);
});

test('dummy data: seed counts, U[0,1) images, normweight U[0,1) (= weight), psr = label, seeded by rank', async () => {
  const train = await openEventSource({ split: 'train', batchSize: 1000, layout: 'NHWC', dummy: true, imageShape: [3, 8, 8] });
  assert.equal(train.numEvents, 10000);
  const batches = await drain(train);
  assert.equal(batches.length, 10);
  const b = batches[0];
  assert.deepEqual(b.shape, [1000, 8, 8, 3]);
  let min = 1, max = 0, mean = 0;
  for (const v of b.images) { min = Math.min(min, v); max = Math.max(max, v); mean += v / b.images.length; }
  assert.ok(min >= 0 && max < 1 && Math.abs(mean - 0.5) < 0.01, `${min} ${max} ${mean}`);
  const ones = b.label.reduce((s, x) => s + x, 0);
  assert.ok(ones > 400 && ones < 600);
  assert.deepEqual(Array.from(b.psr), Array.from(b.label));
  const nw = Array.from(b.normweight);
  assert.ok(nw.every((w) => w >= 0 && w < 1), 'normweight in [0,1)');
  assert.ok(new Set(nw).size > 900 && Math.abs(nw.reduce((s, w) => s + w, 0) / nw.length - 0.5) < 0.05, 'normweight drawn, not constant');
  assert.deepEqual(Array.from(b.weight), nw);
  const val = await openEventSource({ split: 'val', batchSize: 64, layout: 'NCHW', dummy: true });
  assert.equal(val.numEvents, 1000);
  const vb = (await val.next())!;
  assert.deepEqual(vb.shape, [64, 3, 64, 64]);
  const again = await openEventSource({ split: 'val', batchSize: 64, layout: 'NCHW', dummy: true });
  assert.deepEqual((await again.next())!.images.subarray(0, 100), vb.images.subarray(0, 100));
  const rank1 = await openEventSource({ split: 'val', batchSize: 64, layout: 'NCHW', dummy: true, rank: 1, size: 2 });
  assert.notDeepEqual((await rank1.next())!.images.subarray(0, 100), vb.images.subarray(0, 100));
  for (const s of [train, val, again, rank1]) await s.close();
});

test('bad options are rejected with the option name', async () => {
  await assert.rejects(openEventSource({ split: 'train', batchSize: 0, layout: 'NCHW', dummy: true }), DataOptionsError);
  await assert.rejects(openEventSource({ split: 'train', batchSize: 4, layout: 'CHW' as never, dummy: true }), /layout must be NCHW or NHWC/);
  await assert.rejects(openEventSource({ split: 'training' as never, batchSize: 4, layout: 'NCHW', dummy: true }), /split must be one of train\|val\|test/);
  await assert.rejects(openEventSource({ split: 'train', batchSize: 4, layout: 'NCHW' }), /needs inputPath, files or dummy/);
});

test('direct file reads and h5wasm reads give identical batches; recycled buffers are reused with correct contents', async () => {
  const dir = tmpDir();
  const plain = path.join(dir, 'plain_train.h5');
  const packed = path.join(dir, 'packed_train.h5');
  await writeIdFile(plain, 0, 23);
  await writeIdFile(packed, 0, 23, { chunkEvents: 4, gzip: 3 });
  const { EventFile } = await import('../../src/data/index');
  const pf = await EventFile.open(plain);
  const cf = await EventFile.open(packed);
  assert.equal(pf.info.imageReader, 'direct');
  assert.equal(cf.info.imageReader, 'h5wasm');
  pf.close();
  cf.close();
  const modes = [[false, 'NCHW', true], [true, 'NCHW', true], [false, 'NHWC', true], [true, 'NHWC', true], [true, 'NCHW', false]] as const;
  for (const [shuffle, layout, readerThread] of modes) {
    const a = await openEventSource({ files: [plain], split: 'train', batchSize: 5, layout, shuffle, seed: 4 });
    // the chunked file is read by h5wasm, in the reader thread or on the main thread
    const b = await openEventSource({ files: [packed], split: 'train', batchSize: 5, layout, shuffle, seed: 4, readerThread });
    for (let k = 0; ; k++) {
      const x = await a.next();
      const y = await b.next();
      if (!x || !y) {
        assert.equal(x, y, 'same number of batches');
        break;
      }
      assert.deepEqual(x.images, y.images, `batch ${k} shuffle=${shuffle} ${layout}`);
      assert.deepEqual(x.label, y.label);
      a.recycle!(x);
      b.recycle!(y);
    }
    await a.close();
    await b.close();
  }
  // recycling: the buffer comes back, and is overwritten with the right events
  const src = await openEventSource({ files: [plain], split: 'train', batchSize: 5, layout: 'NCHW', shuffle: false, prefetch: 0 });
  const first = (await src.next())!;
  const buffer = first.images;
  assert.deepEqual(batchIds(first.images, 5), [0, 1, 2, 3, 4]);
  src.recycle!(first);
  const second = (await src.next())!;
  assert.equal(second.images, buffer, 'recycled buffer reused');
  assert.deepEqual(batchIds(second.images, 5), [5, 6, 7, 8, 9]);
  await src.close();
});

test('the HDF5 layout walk finds contiguous data in h5py files (old-style groups with many links, and libver latest)', async () => {
  const { findContiguousDataset } = await import('../../src/data/h5layout');
  const dir = tmpDir();
  const old = path.join(dir, 'old.h5');
  const latest = path.join(dir, 'latest.h5');
  const out = JSON.parse(
    py(
      `import sys, json, h5py, numpy as np
res = {}
for p, lib in ((sys.argv[1], 'earliest'), (sys.argv[2], 'latest')):
    with h5py.File(p, 'w', libver=lib) as f:
        for i in range(40): f['pad%02d' % i] = np.zeros(3)
        f['data'] = np.zeros((10, 3, 4, 5), 'f4')
        f['all_events/hist'] = np.ones((5, 4, 4), 'f4')
        f.create_dataset('chunked', data=np.zeros((10, 10), 'f4'), chunks=(5, 5))
    with h5py.File(p) as f:
        res[lib] = {k: f[k].id.get_offset() for k in ('data', 'all_events/hist')}
print(json.dumps(res))`,
      old,
      latest,
    ),
  );
  for (const [file, lib] of [[old, 'earliest'], [latest, 'latest']] as const) {
    const d = findContiguousDataset(file, 'data');
    const h = findContiguousDataset(file, 'all_events/hist');
    if (lib === 'earliest') {
      // old-style symbol tables are understood: the offsets are h5py's own
      assert.deepEqual(d, { offset: out[lib].data, size: 10 * 3 * 4 * 5 * 4 }, lib);
      assert.deepEqual(h, { offset: out[lib]['all_events/hist'], size: 5 * 4 * 4 * 4 }, lib);
    } else {
      // 'latest' stores 40+ links densely (a fractal heap), which the walk leaves to h5wasm: it
      // must say null (not a wrong offset), and h5wasm must then read the values
      assert.equal(d, null, 'latest: data left to h5wasm');
      assert.equal(h, null, 'latest: all_events/hist left to h5wasm');
      const h5 = await Hdf5File.open(file, 'r');
      try {
        assert.deepEqual(Array.from(h5.readNumeric('all_events/hist').data as Float32Array), new Array(5 * 4 * 4).fill(1));
      } finally {
        h5.close();
      }
    }
    assert.equal(findContiguousDataset(file, 'chunked'), null);
    assert.equal(findContiguousDataset(file, 'nope'), null);
  }
});

test('empty files and ranks without events give empty epochs, not errors', async () => {
  const dir = tmpDir();
  await writeIdFile(path.join(dir, 'a_train.h5'), 0, 0);
  await writeIdFile(path.join(dir, 'b_train.h5'), 10, 3);
  const counts: number[] = [];
  const seen: number[] = [];
  for (let rank = 0; rank < 5; rank++) {
    const s = await openEventSource({ inputPath: dir, split: 'train', batchSize: 8, layout: 'NHWC', rank, size: 5, log: () => {} });
    const got = ids(await drain(s));
    assert.equal(got.length, s.numEvents);
    counts.push(s.numEvents);
    seen.push(...got);
    await s.close();
  }
  assert.deepEqual(seen.sort((a, b) => a - b), [10, 11, 12]);
  assert.ok(counts.includes(0));
  const one = await openEventSource({ inputPath: dir, split: 'train', batchSize: 8, layout: 'NCHW', shuffle: false });
  const batches = await drain(one);
  assert.deepEqual(batches.map((b) => b.label.length), [3]);
  await one.close();
});

test('startEpoch in the middle of an epoch (reads still in flight) gives a clean, complete new epoch', async () => {
  const dir = tmpDir();
  // 64x64 events: 4 MiB blocks of 85 events, so the files span several windows
  await writeIdFile(path.join(dir, 'a_train.h5'), 0, 200, { height: 64, width: 64 });
  await writeIdFile(path.join(dir, 'b_train.h5'), 1000, 150, { height: 64, width: 64 });
  const all = [...Array.from({ length: 200 }, (_, i) => i), ...Array.from({ length: 150 }, (_, i) => 1000 + i)];
  for (const [shuffle, layout] of [[true, 'NCHW'], [false, 'NCHW'], [false, 'NHWC']] as const) {
    const src = await openEventSource({ inputPath: dir, split: 'train', batchSize: 60, layout, shuffle, prefetch: 4, shuffleBufferBytes: 1 });
    await src.next();
    await src.next();
    // let the read-ahead of epoch 0 start: it is then waiting for a window read
    for (let i = 0; i < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    src.startEpoch(1); // read-ahead of epoch 0 is still under way
    const got = ids(await drain(src));
    assert.deepEqual([...got].sort((a, b) => a - b), all, `shuffle=${shuffle} ${layout}`);
    src.startEpoch(1);
    assert.deepEqual(ids(await drain(src)), got, 'the interrupted epoch did not disturb the order');
    await src.close();
  }
});
