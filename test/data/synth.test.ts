import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { synthesize, readArrays, readAttributes, eventKinematics, STANDARD_CUTS, formatSynthSummary, inspectFile, formatInspectReport, writeArrays, writeEventFile } from '../../src/data/index';
import { tmpDir, py } from './helpers';

test('synthesize is deterministic for a seed and differs between seeds; writes train/val/test files', async () => {
  const [a, b, c] = [tmpDir(), tmpDir(), tmpDir()];
  const sa = await synthesize({ outDir: a, size: 64, events: 200, seed: 11 });
  await synthesize({ outDir: b, size: 64, events: 200, seed: 11 });
  await synthesize({ outDir: c, size: 64, events: 200, seed: 12 });
  assert.deepEqual(sa.files.map((f) => [f.split, path.basename(f.path), f.events]), [
    ['train', 'train.h5', 160],
    ['val', 'val.h5', 20],
    ['test', 'test.h5', 20],
  ]);
  const A = await readArrays(path.join(a, 'train.h5'));
  const B = await readArrays(path.join(b, 'train.h5'));
  const C = await readArrays(path.join(c, 'train.h5'));
  for (const k of ['data', 'label', 'weight', 'normweight', 'psr']) assert.deepEqual(A[k].data, B[k].data, k);
  assert.notDeepEqual(A.data.data, C.data.data);
  assert.match(formatSynthSummary(sa), /standard cuts \(psr: >= 4 jets with pT > 50, summed jet mass >= 90\)/);
});

test('physics: signal has more, harder, heavier jets; the standard cuts have a sensible efficiency', () => {
  const n = 4000;
  const stats = [0, 1].map(() => ({ events: 0, jets: 0, ht: 0, mass: 0, w: 0, wPass: 0 }));
  for (let i = 0; i < n; i++) {
    const e = eventKinematics(3, i);
    const s = stats[e.label];
    s.events++;
    s.jets += e.jets.length;
    s.ht += e.jets.reduce((a, j) => a + j.pt, 0);
    s.mass += e.jets.reduce((a, j) => a + j.mass, 0);
    s.w += e.weight;
    if (e.psr) s.wPass += e.weight;
  }
  const [bg, sig] = stats;
  assert.ok(sig.events > 0.45 * n && bg.events > 0.45 * n);
  assert.ok(sig.jets / sig.events > bg.jets / bg.events + 0.5, 'more jets');
  assert.ok(sig.ht / sig.events > bg.ht / bg.events, 'harder');
  assert.ok(sig.mass / sig.events > 1.3 * (bg.mass / bg.events), 'larger summed jet mass');
  assert.ok(bg.w / bg.events > 100 * (sig.w / sig.events), 'background carries the larger cross-section weight');
  const effS = sig.wPass / sig.w;
  const effB = bg.wPass / bg.w;
  assert.ok(effS > 0.3 && effS < 0.7, `signal efficiency ${effS}`);
  assert.ok(effB > 0.01 && effB < 0.12, `background efficiency ${effB}`);
  assert.equal(STANDARD_CUTS.minJets, 4);
});

test('images: normalised by training maxima (stored as attributes), normweight sums equal per class, signal deposits more energy', async () => {
  const dir = tmpDir();
  const s = await synthesize({ outDir: dir, size: 64, events: 400, seed: 2, valFraction: 0.25, testFraction: 0.25 });
  const attrs = await readAttributes(path.join(dir, 'val.h5'));
  assert.deepEqual(attrs.channel_max, s.channelMax);
  assert.equal(attrs.channels, 'total_energy,em_fraction,track_multiplicity');
  const train = await readArrays(path.join(dir, 'train.h5'));
  const n = train.label.data.length;
  const plane = 64 * 64;
  const img = train.data.data as Float32Array;
  const max = [0, 0, 0];
  const energy = [0, 0];
  const counts = [0, 0];
  for (let k = 0; k < n; k++) {
    const l = train.label.data[k];
    counts[l]++;
    for (let c = 0; c < 3; c++) for (let p = 0; p < plane; p++) {
      const v = img[(k * 3 + c) * plane + p];
      if (v < 0) assert.fail('negative pixel');
      max[c] = Math.max(max[c], v);
      if (c === 0) energy[l] += v;
    }
  }
  for (let c = 0; c < 3; c++) assert.ok(Math.abs(max[c] - 1) < 1e-6, `channel ${c} max ${max[c]}`);
  assert.ok(energy[1] / counts[1] > 1.2 * (energy[0] / counts[0]), 'signal deposits more energy on average');
  const nw = [0, 0];
  for (let k = 0; k < n; k++) nw[train.label.data[k]] += train.normweight.data[k];
  assert.ok(Math.abs(nw[0] - n / 2) < 1e-3 * n && Math.abs(nw[1] - n / 2) < 1e-3 * n, `normweight sums ${nw}`);
});

test('options: several train files, chunked+gzip output, 224x224 images; bad options are named', async () => {
  const dir = tmpDir();
  const s = await synthesize({ outDir: dir, size: 224, events: 24, seed: 1, trainFiles: 3, chunkEvents: 4, gzip: 4 });
  assert.deepEqual(fs.readdirSync(dir).sort(), ['test.h5', 'train_000.h5', 'train_001.h5', 'train_002.h5', 'val.h5']);
  const rep = await inspectFile(s.files[0].path);
  assert.deepEqual(rep.imageShape, [3, 224, 224]);
  assert.deepEqual(rep.datasets.find((d) => d.name === 'data')!.filters, ['deflate']);
  await assert.rejects(synthesize({ outDir: dir, size: 128 as 64, events: 10, seed: 1 }), /synth: size must be 64 or 224, got 128/);
  await assert.rejects(synthesize({ outDir: dir, size: 64, events: 0, seed: 1 }), /events must be a positive integer/);
  await assert.rejects(synthesize({ outDir: dir, size: 64, events: 10, seed: 1, gzip: 3 }), /gzip needs chunkEvents/);
});

test('inspectFile reports layout, shapes, dtypes, storage, label counts and weight sums', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ev.h5');
  await writeEventFile(file, {
    data: new Float32Array(5 * 3 * 2 * 2), imageShape: [3, 2, 2], label: new Int32Array([0, 1, 1, 0, 1]),
    weight: new Float32Array([1, 2, 3, 4, 5]), normweight: new Float32Array([0.5, 0.5, 0.5, 0.5, 0.5]), psr: new Uint8Array([1, 1, 0, 0, 1]),
  }, { chunkEvents: 2, gzip: 1 });
  const r = await inspectFile(file);
  assert.equal(r.layout, 'seed');
  assert.equal(r.events, 5);
  assert.deepEqual(r.labelCounts, { background: 2, signal: 3 });
  assert.deepEqual(r.weightSums, { background: 5, signal: 10, total: 15 });
  assert.deepEqual(r.psrCounts, { background: 1, signal: 2 });
  const text = formatInspectReport(r);
  assert.match(text, /layout: seed/);
  assert.match(text, /data: shape \[5,3,2,2\] f4, chunked \[2,3,2,2\] filters deflate/);
  assert.match(text, /psr: shape \[5\] u1/);
  assert.match(text, /labels: background \(0\) 2, signal \(1\) 3/);
  assert.match(text, /weight sums: background 5, signal 10, total 15/);
  const legacy = path.join(dir, 'legacy.h5');
  py(`import sys, h5py, numpy as np
with h5py.File(sys.argv[1], 'w') as f:
    f['all_events/hist'] = np.zeros((3, 4, 4), 'f4'); f['all_events/y'] = np.array([0, 1, 1])
    f['all_events/weight'] = np.ones(3); f['all_events/normalized_weight'] = np.ones(3)
`, legacy);
  const lt = formatInspectReport(await inspectFile(legacy));
  assert.match(lt, /layout: legacy/);
  assert.match(lt, /all_events\/hist: shape \[3,4,4\] f4, contiguous/);
  assert.match(lt, /psr\): not stored in legacy files/);
  const ckpt = path.join(dir, 'ckpt.h5');
  await writeArrays(ckpt, { w: { data: new Float32Array(4), shape: [2, 2] } });
  const cr = await inspectFile(ckpt);
  assert.equal(cr.layout, 'other');
  assert.match(cr.problem!, /missing dataset 'data'/);
  assert.match(formatInspectReport(cr), /w: shape \[2,2\] f4/);
});
