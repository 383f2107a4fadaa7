/**
 * Bad data in training: non-finite inputs are refused (file and event named) or skipped and
 * counted, a non-finite loss stops the run before the update, no checkpoint is ever
 * non-finite, and a failed run leaves an earlier run's files as they were.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../../src/backend';
import { listCheckpoints, saveCheckpoint, train, type TrainRunResult } from '../../src/train';
import { tempDirMaker } from '../support/tmp';
import { smallConfig, writeSplit } from './support-files';

const tmp = tempDirMaker('hpcdl-bad-');
let good: string;

before(async () => {
  await initBackend({ log: () => undefined });
  good = tmp();
  await writeSplit(good, 'train', 20);
  await writeSplit(good, 'val', 8);
});

/** Every file below `dir` with its bytes. */
function snapshot(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.set(path.relative(dir, p), fs.readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

const quiet = { threads: 1, log: () => undefined };

test('NaN in an image: train refuses, naming the file and the event; no checkpoint; the earlier run restored from is left whole', async () => {
  const output = tmp();
  const config = smallConfig(good, output, { trainsamples: 20, num_epochs: 1, restart: false });
  await train({ config, ...quiet });
  const earlier = snapshot(output);

  const bad = tmp();
  const file = await writeSplit(bad, 'train', 20, { nanEvents: [13] });
  await writeSplit(bad, 'val', 8);
  await assert.rejects(train({ config: { ...config, inputpath: bad, num_epochs: 2 }, ...quiet }), (err: Error) => {
    assert.equal(err.message.split('\n').length, 1, 'one line');
    assert.match(err.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: dataset 'data' event 13 has a non-finite image value \\(NaN\\) at \\[C,H,W\\] \\[0,0,0\\]; .*--skip-non-finite`));
    return true;
  });
  const after = snapshot(output);
  for (const [name, bytes] of earlier) {
    if (name.startsWith('logs/')) assert.ok(Buffer.from(after.get(name)!, 'base64').toString().startsWith(Buffer.from(bytes, 'base64').toString()), `${name} only appended to`);
    else assert.equal(after.get(name), bytes, `${name} unchanged`);
  }
  assert.deepEqual(listCheckpoints(path.join(output, 'models')).map((f) => path.basename(f)), ['ckpt-00000002.json'], 'no checkpoint from the failed run');
});

test('bad labels, and a label count that differs from the images: refused before the output directory is touched', async () => {
  const output = tmp();
  const config = smallConfig(good, output, { trainsamples: 20, num_epochs: 1, restart: true });
  await train({ config, ...quiet });
  const earlier = snapshot(output);
  const badLabels = tmp();
  await writeSplit(badLabels, 'train', 20, { label: Array.from({ length: 20 }, (_, i) => (i === 5 ? 2 : i % 2)) });
  await writeSplit(badLabels, 'val', 8);
  // restart: true would set the earlier run aside: the inputs are checked before that
  await assert.rejects(train({ config: { ...config, inputpath: badLabels }, ...quiet }), /train\.h5: dataset 'label' must hold class labels 0 or 1, got 2 at event 5/);
  assert.deepEqual(snapshot(output), earlier, 'every file of the earlier run as it was, nothing moved or truncated');
});

test('nonFinite: skip leaves such events out, counts them, and trains on the rest', async () => {
  const bad = tmp();
  await writeSplit(bad, 'train', 23, { nanEvents: [0, 4, 22] });
  await writeSplit(bad, 'val', 8, { nanEvents: [1] });
  const lines: string[] = [];
  const steps: number[] = [];
  const result = (await train({
    config: smallConfig(bad, tmp(), { trainsamples: 20, num_epochs: 1 }),
    nonFinite: 'skip',
    threads: 1,
    log: (l) => lines.push(l),
    onEvent: (e) => (e.type === 'step' && steps.push(e.loss), e.type === 'validation' && steps.push(e.events)),
  })) as TrainRunResult;
  assert.ok(lines.includes('data: skipped 3 train events with non-finite values (train.h5: 3)'), lines.join('\n'));
  assert.ok(lines.includes('data: skipped 1 val event with non-finite values (val.h5: 1)'));
  assert.equal(result.globalStep, 2, '20 events left: 2 full batches');
  assert.ok(steps.slice(0, 2).every(Number.isFinite), 'finite losses');
  assert.equal(result.history[0].validation!.events, 7);
  assert.ok(Number.isFinite(result.history[0].validation!.loss));
});

test('a non-finite loss stops the run with one clear line, before the update, and writes no checkpoint', async () => {
  const huge = tmp();
  // finite inputs whose activations overflow float32
  await writeSplit(huge, 'train', 20, { fill: 3e38 });
  await writeSplit(huge, 'val', 8);
  const output = tmp();
  await assert.rejects(train({ config: smallConfig(huge, output, { trainsamples: 20, num_epochs: 1 }), ...quiet }), (err: Error) => {
    assert.equal(err.name, 'NonFiniteLossError');
    assert.match(err.message, /^training (loss became (NaN|Infinity)|gradients became non-finite \(loss [0-9.]+\)) at global step 1; stopped before applying it \(no checkpoint written\): lower the learning rate or check the inputs$/);
    return true;
  });
  assert.deepEqual(listCheckpoints(path.join(output, 'models')), []);
});

test('saveCheckpoint refuses a non-finite weight and writes nothing', async () => {
  const dir = tmp();
  const w = tf.variable(tf.tensor1d([1, NaN, 3]));
  await assert.rejects(
    saveCheckpoint({ dir, model: 'm', variables: [{ name: 'w', variable: w }], step: 1, epoch: 0, stepInEpoch: 1, epochComplete: false }),
    /refusing to write checkpoint .*ckpt-00000001\.h5: w_000_w\[1\] is NaN \(the model diverged\)/,
  );
  assert.deepEqual(fs.readdirSync(dir), []);
  w.dispose();
});
