import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { runTsx } from '../support/run';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { initBackend } from '../../src/backend';
import { loadConfig, type HepConfig } from '../../src/config';
import type { EventBatch } from '../../src/data/types';
import { buildHepCnn, weightedSoftmaxCrossEntropy } from '../../src/model';
import { Adam, latestCheckpoint, train, trainLoop, type TrainEvent } from '../../src/train';
import { MemorySource, variableValues } from './support';
import { tempDirMaker } from '../support/tmp';

const ROOT = path.resolve(__dirname, '..', '..');
let tiny: HepConfig;

before(async () => {
  await initBackend({ force: 'wasm', log: () => undefined });
  const config = loadConfig(path.join(ROOT, 'configs', 'local_small.json'));
  tiny = { ...config, num_layers: 1, num_fc_units: 8, conv_params: { ...config.conv_params, num_filters: 4 } };
});

const tmp = tempDirMaker();

/** 64×64 events with uneven training weights, zeros included (TF1 divides by the non-zero count). */
class UnevenWeights extends MemorySource {
  async next(): Promise<EventBatch | null> {
    const batch = await super.next();
    if (batch) batch.normweight = Float32Array.from(batch.label, (_, i) => [0, 0.5, 2, 1.25][i % 4]);
    return batch;
  }
}

async function oneStep(threads: number | undefined, customLoss: boolean) {
  const model = buildHepCnn(tiny, { seed: 3 });
  const initial = await variableValues(model.variables);
  const lines: string[] = [];
  const losses: number[] = [];
  const optimizer = new Adam({ learningRate: 1e-3 });
  await trainLoop({
    model,
    train: new UnevenWeights(16, 32, 'NHWC', 64),
    optimizer,
    epochs: 1,
    maxSteps: 1,
    useWeights: true,
    threads,
    loss: customLoss ? weightedSoftmaxCrossEntropy : undefined,
    log: (l) => lines.push(l),
    onEvent: (e) => e.type === 'step' && losses.push(e.loss),
  });
  const values = await variableValues(model.variables);
  optimizer.dispose();
  model.dispose();
  return { initial, values, loss: losses[0], lines };
}

function maxAbsDifference(a: number[][], b: number[][]): number {
  let max = 0;
  a.forEach((row, i) => row.forEach((x, j) => (max = Math.max(max, Math.abs(x - b[i][j])))));
  return max;
}

test('HEP CNN: one step on 2 threads gives the weights of 1 thread and of the plain tf.variableGrads path', async () => {
  const plain = await oneStep(undefined, true);
  const single = await oneStep(1, false);
  const parallel = await oneStep(2, false);
  assert.ok(!plain.lines.some((l) => l.includes('computing gradients on')), 'a custom loss takes the plain path');
  assert.ok(single.lines.includes('Rank 0 : computing gradients on 1 thread'));
  assert.ok(parallel.lines.includes('Rank 0 : computing gradients on 2 threads'));
  assert.ok(maxAbsDifference(plain.values, plain.initial) > 1e-4, 'the step changed the weights');
  assert.ok(maxAbsDifference(single.values, plain.values) < 1e-5, `1 thread vs plain: ${maxAbsDifference(single.values, plain.values)}`);
  assert.ok(maxAbsDifference(parallel.values, single.values) < 1e-5, `2 threads vs 1: ${maxAbsDifference(parallel.values, single.values)}`);
  for (const run of [single, parallel]) assert.ok(Math.abs(run.loss - plain.loss) <= 1e-5 * Math.abs(plain.loss), `loss ${run.loss} vs ${plain.loss}`);
});

test('threads must be a positive integer, also from HPCDL_TRAIN_THREADS', async () => {
  await assert.rejects(oneStep(0, false), /threads must be a positive integer, got 0/);
  process.env.HPCDL_TRAIN_THREADS = 'two';
  try {
    await assert.rejects(oneStep(undefined, false), /HPCDL_TRAIN_THREADS must be a positive integer, got 'two'/);
  } finally {
    delete process.env.HPCDL_TRAIN_THREADS;
  }
});

test('the 224×224 variant trains through train() on wasm, the batch split over threads and passes', async () => {
  const config = loadConfig(path.join(ROOT, 'configs', 'cori_haswell_224.json'));
  const lines: string[] = [];
  const events: TrainEvent[] = [];
  const result = await train({
    config: { ...config, train_batch_size: 12, validation_batch_size: 4, validation_max_steps: 1, seed: 5 },
    dummyData: true,
    backend: 'wasm',
    threads: 2,
    maxSteps: 1,
    outputDir: tmp(),
    log: (l) => lines.push(l),
    onEvent: (e) => events.push(e),
  });
  assert.equal(result.mode, 'train');
  if (result.mode !== 'train') return;
  assert.equal(result.backend, 'wasm');
  assert.equal(result.globalStep, 1);
  assert.ok(lines.includes('Rank 0 : computing gradients on 2 threads, passes of at most 5 images'), lines.join('\n'));
  const step = events.find((e) => e.type === 'step');
  assert.ok(step && step.type === 'step' && Number.isFinite(step.loss) && step.loss > 0, 'a finite loss');
  assert.ok(latestCheckpoint(result.modelsDir), 'a checkpoint was written');
});

/** A script that trains the HEP CNN on 2 threads in its own process and must exit by itself. */
function trainingScript(dir: string, abortAfterFirstStep: boolean): string {
  const file = path.join(dir, abortAfterFirstStep ? 'abort.ts' : 'finish.ts');
  const src = (p: string) => JSON.stringify(path.join(ROOT, 'src', p));
  fs.writeFileSync(
    file,
    `import { initBackend } from ${src('backend')};
import { loadConfig } from ${src('config')};
import { openEventSource } from ${src('data')};
import { buildHepCnn } from ${src('model')};
import { trainLoop } from ${src('train')};
(async () => {
  await initBackend({ force: 'wasm', log: () => undefined });
  const base = loadConfig(${src(path.join('..', 'configs', 'local_small.json'))});
  const config = { ...base, num_layers: 1, num_fc_units: 8, conv_params: { ...base.conv_params, num_filters: 4 } };
  const source = await openEventSource({ dummy: true, dummyEvents: 64, split: 'train', batchSize: 16, layout: 'NHWC', imageShape: [3, 64, 64] });
  const stop = new AbortController();
  const result = await trainLoop({
    model: buildHepCnn(config),
    train: source,
    epochs: 1,
    threads: 2,
    checkpoint: { dir: ${JSON.stringify(dir)} },
    signal: stop.signal,
    log: (l) => console.log(l),
    onEvent: (e) => { if (${abortAfterFirstStep} && e.type === 'step') stop.abort(); },
  });
  await source.close();
  console.log('RESULT ' + JSON.stringify({ step: result.globalStep, interrupted: result.interrupted }));
})();
`,
  );
  return file;
}

for (const abort of [false, true]) {
  test(`the gradient worker threads are disposed when training ${abort ? 'is aborted' : 'ends'}: the process exits by itself`, async () => {
    const dir = tmp();
    const file = trainingScript(dir, abort);
    const r = await runTsx(file, [], { cwd: ROOT, timeoutMs: 90_000, timeoutMessage: `${file} did not exit by itself (worker threads left running?)` });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes('Rank 0 : computing gradients on 2 threads'), r.stdout);
    const result = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('RESULT '))!.slice('RESULT '.length));
    assert.deepEqual(result, abort ? { step: 1, interrupted: true } : { step: 4, interrupted: false });
    assert.ok(latestCheckpoint(dir));
  });
}
