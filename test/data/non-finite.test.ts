/** Non-finite event data in the input pipeline and in `hpcdl data inspect`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { DataFileError, openEventSource, writeArrays, writeEventFile, type EventBatch } from '../../src/data/index';
import { tmpDir } from './helpers';
import { hpcdl } from '../cli/support';

const SHAPE: [number, number, number] = [3, 4, 4];
const PER = 3 * 4 * 4;

async function writeFile(file: string, n: number, bad: { image?: number[]; weight?: number[]; normweight?: number[] } = {}): Promise<string> {
  const data = Float32Array.from({ length: n * PER }, (_, i) => (i % 97) / 97);
  for (const e of bad.image ?? []) data[e * PER + 5] = e % 2 ? Infinity : NaN;
  const weight = new Float32Array(n).fill(1);
  const normweight = new Float32Array(n).fill(0.5);
  for (const e of bad.weight ?? []) weight[e] = NaN;
  for (const e of bad.normweight ?? []) normweight[e] = -Infinity;
  await writeEventFile(file, { data, imageShape: SHAPE, label: Int32Array.from({ length: n }, (_, i) => i % 2), weight, normweight, psr: new Uint8Array(n) });
  return file;
}

async function drain(opts: Parameters<typeof openEventSource>[0]): Promise<EventBatch[]> {
  const source = await openEventSource({ log: () => undefined, ...opts });
  const out: EventBatch[] = [];
  try {
    for (let b = await source.next(); b; b = await source.next()) out.push({ ...b, images: b.images.slice() });
  } finally {
    await source.close();
  }
  return out;
}

for (const [name, layout, shuffle] of [['straight reads (NCHW, unshuffled)', 'NCHW', false], ['shuffle windows (NHWC)', 'NHWC', true]] as const) {
  test(`a NaN or Inf image value is refused, naming the file and the event: ${name}`, async () => {
    const file = await writeFile(path.join(tmpDir(), 'x_train.h5'), 30, { image: [17] });
    await assert.rejects(drain({ files: [file], split: 'train', batchSize: 8, layout, shuffle }), (err: Error) => {
      assert.ok(err instanceof DataFileError);
      assert.equal(err.message, `${file}: dataset 'data' event 17 has a non-finite image value (Infinity) at [C,H,W] [0,1,1]; repair the file, or skip such events (hpcdl train --skip-non-finite)`);
      return true;
    });
  });
}

test('a non-finite weight or normweight is refused when the source opens', async () => {
  const dir = tmpDir();
  const w = await writeFile(path.join(dir, 'w_train.h5'), 10, { weight: [3] });
  await assert.rejects(openEventSource({ files: [w], split: 'train', batchSize: 4, layout: 'NCHW', log: () => undefined }), new RegExp(`^DataFileError: ${w.replace(/[.\\/]/g, '\\$&')}: dataset 'weight' event 3 has a non-finite weight \\(NaN\\)`));
  const nw = await writeFile(path.join(dir, 'nw_train.h5'), 10, { normweight: [9] });
  await assert.rejects(openEventSource({ files: [nw], split: 'train', batchSize: 4, layout: 'NCHW', log: () => undefined }), /dataset 'normweight' event 9 has a non-finite normweight \(-Infinity\)/);
});

test("nonFinite: 'skip' leaves the events out, logs the count, and every batch is finite", async () => {
  const dir = tmpDir();
  const a = await writeFile(path.join(dir, 'a_train.h5'), 20, { image: [0, 7], weight: [19] });
  const b = await writeFile(path.join(dir, 'b_train.h5'), 15, { normweight: [4] });
  const lines: string[] = [];
  for (const [layout, shuffle] of [['NCHW', false], ['NHWC', true]] as const) {
    const source = await openEventSource({ files: [a, b], split: 'train', batchSize: 8, layout, shuffle, nonFinite: 'skip', log: (l) => lines.push(l) });
    assert.equal(source.numEvents, 35 - 4);
    let events = 0;
    for (let batch = await source.next(); batch; batch = await source.next()) {
      events += batch.label.length;
      assert.ok(batch.images.every(Number.isFinite) && batch.weight.every(Number.isFinite) && batch.normweight.every(Number.isFinite));
    }
    await source.close();
    assert.equal(events, 31);
  }
  assert.equal(lines[0], 'data: skipped 4 train events with non-finite values (a_train.h5: 3, b_train.h5: 1)');
});

test('hpcdl data inspect: non-finite counts, and exit 1 on a file with problems (0 on a good one)', async () => {
  const dir = tmpDir();
  const goodFile = await writeFile(path.join(dir, 'good.h5'), 12);
  const badFile = await writeFile(path.join(dir, 'bad.h5'), 12, { image: [2, 3, 9], weight: [5], normweight: [5, 6] });
  const good = await hpcdl(['data', 'inspect', goodFile]);
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^non-finite values \(NaN\/Inf\): images of 0 events, weight 0, normweight 0$/m);
  const bad = await hpcdl(['data', 'inspect', badFile]);
  assert.equal(bad.code, 1, 'non-finite values are a problem');
  assert.match(bad.stdout, /^non-finite values \(NaN\/Inf\): images of 3 events, weight 1, normweight 2 \(first: event 2\)$/m);
});

test('hpcdl data inspect: a label count that differs from the image count is a problem, exit 1', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'short_labels.h5');
  await writeArrays(file, {
    data: { data: new Float32Array(10 * PER), shape: [10, ...SHAPE] },
    label: { data: new Int32Array(9), shape: [9] },
    normweight: { data: new Float32Array(10), shape: [10] },
    weight: { data: new Float32Array(10), shape: [10] },
    psr: { data: new Uint8Array(10), shape: [10] },
  });
  const r = await hpcdl(['data', 'inspect', file]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^problem: .*short_labels\.h5: dataset 'label' has 9 entries but 'data' has 10 events$/m);
});
