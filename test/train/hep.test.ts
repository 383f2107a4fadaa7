import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/backend';
import { loadConfig, type HepConfig } from '../../src/config';
import { openEventSource } from '../../src/data';
import { buildHepCnn } from '../../src/model';
import { Adam, latestCheckpoint, loadCheckpoint, namedVariablesOf, train, trainLoop, type TrainEvent } from '../../src/train';
import { variableValues } from './support';
import { tempDirMaker } from '../support/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
let config: HepConfig;

before(async () => {
  await initBackend({ log: () => undefined });
  config = loadConfig(path.join(ROOT, 'configs', 'local_small.json'));
  config = { ...config, num_layers: 1, num_fc_units: 8, conv_params: { ...config.conv_params, num_filters: 4 } };
});

const tmp = tempDirMaker();

async function runHep(epochs: number, dir: string, seed: number, resume: boolean) {
  const model = buildHepCnn(config, { seed });
  const source = await openEventSource({ dummy: true, dummyEvents: 100, split: 'train', batchSize: 20, layout: 'NHWC', imageShape: [3, 64, 64] });
  const result = await trainLoop({
    model,
    train: source,
    optimizer: new Adam({ learningRate: 1e-3 }),
    epochs,
    checkpoint: { dir },
    resumeFrom: resume ? latestCheckpoint(dir) : undefined,
    log: () => undefined,
  });
  await source.close();
  const values = await variableValues(model.variables);
  model.dispose();
  return { result, values };
}

test('HEP CNN checkpoint: weights restore exactly into a fresh model, and a restart equals an uninterrupted run', async () => {
  const straight = await runHep(2, tmp(), 1, false);
  const dir = tmp();
  const first = await runHep(1, dir, 1, false);
  const manifest = latestCheckpoint(dir)!;

  const fresh = buildHepCnn(config, { seed: 99 });
  const loaded = await loadCheckpoint(manifest, namedVariablesOf(fresh));
  assert.deepEqual(await variableValues(fresh.variables), first.values, 'restored weights = saved weights');
  assert.equal(loaded.manifest.step, 5);
  assert.ok(loaded.optimizerState!.m.some((m) => m.some((x) => x !== 0)), 'Adam moments are stored');
  fresh.dispose();

  const resumed = await runHep(2, dir, 99, true);
  assert.equal(resumed.result.globalStep, 10);
  assert.deepEqual(resumed.values, straight.values);
});

test('train() reports step, epoch, validation and checkpoint events', async () => {
  const events: TrainEvent[] = [];
  const lines: string[] = [];
  const result = await train({
    config: { ...config, display_interval: 2, validation_batch_size: 200 },
    dummyData: true,
    maxSteps: 4,
    validateAtStop: true, // 4 of 156 steps: the epoch is unfinished, validated only on request
    outputDir: tmp(),
    log: (l) => lines.push(l),
    onEvent: (e) => events.push(e),
  });
  assert.equal(result.mode, 'train');
  if (result.mode !== 'train') return;
  assert.equal(result.globalStep, 4);
  assert.deepEqual(events.filter((e) => e.type === 'step').map((e) => e.type === 'step' && e.step), [1, 2, 3, 4]);
  const validation = events.find((e) => e.type === 'validation');
  assert.ok(validation && validation.type === 'validation' && validation.partial === true && validation.events === 1000 && validation.auc >= 0 && validation.auc <= 1);
  assert.ok(!events.some((e) => e.type === 'epoch'), 'no epoch completed');
  assert.ok(events.some((e) => e.type === 'checkpoint' && fs.existsSync(e.path)));
  assert.ok(lines.some((l) => l.includes(' REPORT rank 0 global step 4., ')));
});
