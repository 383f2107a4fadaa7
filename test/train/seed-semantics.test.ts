/**
 * The seed's training semantics, end to end through train() on small real files: restart,
 * step counts, validation (v1 epoch pass, v2 interval reports), create_summary, the start-up
 * lines, and the config-hash warning of a restore.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listCheckpoints, train, type TrainEvent, type TrainRunResult } from '../../src/train';
import type { HepConfig } from '../../src/config';
import { tempDirMaker } from '../support/tmp';
import { smallConfig, writeSplit } from './support-files';

const tmp = tempDirMaker('hpcdl-seed-');
let data: string;
const TRAIN_EVENTS = 25; // 2 full batches of 10 and 5 left over
const VAL_EVENTS = 12; // 3 batches of 4

before(async () => {
  data = tmp();
  await writeSplit(data, 'train', TRAIN_EVENTS);
  await writeSplit(data, 'val', VAL_EVENTS);
});

interface Run {
  result: TrainRunResult;
  lines: string[];
  events: TrainEvent[];
}

async function run(config: HepConfig, opts: { maxSteps?: number; resume?: boolean } = {}): Promise<Run> {
  const lines: string[] = [];
  const events: TrainEvent[] = [];
  const result = await train({ config, threads: 1, log: (l) => lines.push(l), onEvent: (e) => events.push(e), ...opts });
  assert.equal(result.mode, 'train');
  return { result: result as TrainRunResult, lines, events };
}

const stepsOf = (events: TrainEvent[]) => events.filter((e) => e.type === 'step').map((e) => e.step);
const completedEpochs = (lines: string[]) => lines.filter((l) => / COMPLETED rank 0 epoch \d+, /.test(l)).length;
const manifestStep = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')).step as number;

test('step counts: full batches only, so the announced last step is the one trained and checkpointed', async () => {
  const { result, lines, events } = await run(smallConfig(data, tmp(), { trainsamples: TRAIN_EVENTS }));
  // 25 events in batches of 10: 2 steps per epoch (the 5 left over are not a step), 3 epochs
  assert.ok(lines.includes('Stopping after 6 global steps'), 'the seed line, without a rank prefix');
  assert.ok(!lines.some((l) => /^Rank \d+ : Stopping after/.test(l)));
  assert.deepEqual(stepsOf(events), [1, 2, 3, 4, 5, 6]);
  assert.equal(result.globalStep, 6);
  assert.equal(manifestStep(listCheckpoints(result.modelsDir).at(-1)!), 6);
  assert.equal(completedEpochs(lines), 3);
  assert.ok(!lines.some((l) => l.startsWith('Warning: trainsamples')), 'trainsamples agrees with the files');
});

test('trainsamples that disagrees with the files is named in a warning', async () => {
  const { lines } = await run(smallConfig(data, tmp(), { trainsamples: 12800, num_epochs: 1 }));
  assert.ok(lines.some((l) => /^Warning: trainsamples 12800 makes 1280 steps per epoch, but rank 0's training files make 2 full batches of 10; hpcdl counts an epoch as one pass over the files \(the seed would stop at global step 1280\)$/.test(l)), lines.join('\n'));
});

test('--max-steps inside an epoch: no COMPLETED line and no validation, a checkpoint to continue from', async () => {
  const output = tmp();
  const config = smallConfig(data, output, { trainsamples: TRAIN_EVENTS });
  const first = await run(config, { maxSteps: 3 });
  assert.ok(first.lines.includes('Stopping after 3 global steps'));
  assert.equal(completedEpochs(first.lines), 1, 'epoch 1 completed, epoch 2 stopped after its first batch');
  assert.ok(!first.lines.some((l) => / COMPLETED (rank 0 )?epoch 2,/.test(l)), first.lines.join('\n'));
  assert.equal(first.events.filter((e) => e.type === 'validation').length, 1, 'validated after epoch 1 only');
  assert.equal(first.result.stoppedEarly, true);
  assert.equal(first.result.history.length, 1);
  const manifest = JSON.parse(fs.readFileSync(listCheckpoints(first.result.modelsDir).at(-1)!, 'utf8'));
  assert.deepEqual([manifest.step, manifest.epoch, manifest.stepInEpoch, manifest.epochComplete], [3, 1, 1, false]);

  // restart: false (local_small's) continues from it and completes epoch 2
  const second = await run(config);
  assert.ok(second.lines.some((l) => /^Restoring model .*ckpt-00000003\.json \(global step 3, epoch 2, batch 1\)$/.test(l)), second.lines.join('\n'));
  assert.deepEqual(stepsOf(second.events), [4, 5, 6]);
  assert.ok(second.lines.some((l) => / COMPLETED rank 0 epoch 2, /.test(l)));
});

test('validateAtStop: a run cut short inside an epoch is validated (a partial record), still not COMPLETED', async () => {
  const lines: string[] = [];
  const events: TrainEvent[] = [];
  const result = (await train({ config: smallConfig(data, tmp(), { trainsamples: TRAIN_EVENTS }), threads: 1, maxSteps: 1, validateAtStop: true, log: (l) => lines.push(l), onEvent: (e) => events.push(e) })) as TrainRunResult;
  assert.equal(completedEpochs(lines), 0);
  assert.ok(lines.some((l) => /^\d+\.\d\d STOPPED epoch 1 at global step 1 \(batch 1 of 2\), validation loss /.test(l)), lines.join('\n'));
  const v = events.find((e) => e.type === 'validation');
  assert.ok(v && v.type === 'validation' && v.partial === true && v.events === VAL_EVENTS);
  assert.equal(result.history.length, 1);
  assert.equal(result.history[0].complete, false);
  assert.ok(Number.isFinite(result.history[0].validation!.auc));
});

test('restart: false restores the newest checkpoint, restart: true starts fresh and moves the earlier run aside; resume overrides both', async () => {
  const output = tmp();
  const keep = smallConfig(data, output, { trainsamples: TRAIN_EVENTS, restart: false });
  const fresh = { ...keep, restart: true };
  const a = await run(keep, { maxSteps: 2 });
  assert.ok(a.lines.some((l) => l.startsWith('Rank 0 : no checkpoint in ')), 'nothing to restore yet');
  const oldLog = fs.readFileSync(a.result.logPath!, 'utf8');

  const b = await run(keep, { maxSteps: 4 });
  assert.ok(b.lines.some((l) => /^Restoring model .*ckpt-00000002\.json/.test(l)), 'restart: false restores');
  assert.deepEqual(stepsOf(b.events), [3, 4]);
  assert.ok(fs.readFileSync(b.result.logPath!, 'utf8').startsWith(oldLog), 'a restored run appends to the log');
  const before = listCheckpoints(path.join(output, 'models')).map((f) => path.basename(f));
  assert.deepEqual(before, ['ckpt-00000002.json', 'ckpt-00000004.json']);

  const c = await run(fresh, { maxSteps: 2 });
  assert.ok(!c.lines.some((l) => l.startsWith('Restoring model')), 'restart: true does not restore');
  assert.deepEqual(stepsOf(c.events), [1, 2], 'starts at step 0');
  const moved = c.lines.find((l) => l.startsWith('Rank 0 : starting fresh (restart: true); '));
  assert.ok(moved, c.lines.join('\n'));
  const aside = /moved to (\S+)$/.exec(moved)![1];
  assert.match(moved, /the earlier run's 2 checkpoints \(newest: global step 4\) and 2 log files moved to /);
  assert.deepEqual(fs.readdirSync(path.join(aside, 'models')).filter((f) => f.endsWith('.json')).sort(), before, 'the earlier checkpoints are kept, not overwritten');
  assert.ok(fs.readFileSync(path.join(aside, 'logs', 'train_rank0.log'), 'utf8').startsWith(oldLog), 'the earlier log is kept whole');
  assert.ok(!fs.readFileSync(c.result.logPath!, 'utf8').includes('Restoring model'), 'the new log is the new run only');

  const d = await run(fresh, { maxSteps: 3, resume: true });
  assert.ok(d.lines.some((l) => /^Restoring model .*ckpt-00000002\.json/.test(l)), 'resume: true (--resume) restores whatever restart says');
  const e = await run(keep, { maxSteps: 1, resume: false });
  assert.ok(!e.lines.some((l) => l.startsWith('Restoring model')) && e.lines.some((l) => l.startsWith('Rank 0 : starting fresh (--fresh); ')), 'resume: false (--fresh) starts fresh whatever restart says');

  // nothing to restore (the models were deleted): the logs of the earlier run are not appended to
  fs.rmSync(path.join(output, 'models'), { recursive: true });
  const f = await run(keep, { maxSteps: 1 });
  assert.ok(f.lines.some((l) => /^Rank 0 : starting fresh \(no checkpoint to restore\); the earlier run's 2 log files moved to /.test(l)), f.lines.join('\n'));
  const metrics = fs.readFileSync(f.result.metricsPath!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(metrics.filter((m) => m.type === 'step').map((m) => m.step), [1], 'the metrics file holds this run only');
});

test('a restore under a changed config warns with both hashes; a run-only change (num_epochs) does not', async () => {
  const output = tmp();
  const config = smallConfig(data, output, { trainsamples: TRAIN_EVENTS, restart: false });
  await run(config, { maxSteps: 2 });
  const same = await run({ ...config, num_epochs: 4 }, { maxSteps: 3 });
  assert.ok(same.lines.some((l) => l.startsWith('Restoring model')));
  assert.ok(!same.lines.some((l) => l.includes('different config')), same.lines.join('\n'));
  const changed = await run({ ...config, num_fc_units: 8, learning_rate: 5e-4 }, { maxSteps: 4 });
  assert.ok(changed.lines.some((l) => /^Warning: checkpoint .*ckpt-00000003\.json was written with a different config \(hash [0-9a-f]{16}, now [0-9a-f]{16}\)$/.test(l)), changed.lines.join('\n'));
});

test('validation_interval: the seed v2 TRAINING REPORT, EVALUATION REPORT and EPOCH SUMMARY lines; validation_max_steps caps only those', async () => {
  const config = smallConfig(data, tmp(), { trainsamples: TRAIN_EVENTS, num_epochs: 2, validation_interval: 3, validation_max_steps: 1 });
  const { lines, events } = await run(config);
  const num6 = '\\d+\\.\\d{6}';
  const training = lines.filter((l) => new RegExp(`^\\d+\\.\\d\\d TRAINING REPORT: step (2|4) \\(4\\), average loss ${num6} \\(\\d+\\.\\d{3} sec/batch\\), average learning rate 0\\.001000$`).test(l));
  assert.equal(training.length, 2, lines.join('\n'));
  for (const metric of ['loss', 'accu', 'auc']) {
    assert.equal(lines.filter((l) => new RegExp(`^\\d+\\.\\d\\d EVALUATION REPORT: step 3 \\(4\\), average ${metric} ${num6}$`).test(l)).length, 1, metric);
    assert.equal(lines.filter((l) => new RegExp(`^\\d+\\.\\d\\d EVALUATION EPOCH SUMMARY: step (2|4) \\(4\\), average ${metric} ${num6}$`).test(l)).length, 2, metric);
  }
  const evaluations = events.filter((e): e is Extract<TrainEvent, { type: 'evaluation' }> => e.type === 'evaluation');
  assert.deepEqual(evaluations.map((e) => [e.kind, e.step, e.events]), [['epoch summary', 2, 4], ['report', 3, 4], ['epoch summary', 4, 4]], 'v2 evaluations read validation_max_steps (1) batches of 4');
  const validations = events.filter((e): e is Extract<TrainEvent, { type: 'validation' }> => e.type === 'validation');
  assert.deepEqual(validations.map((e) => e.events), [VAL_EVENTS, VAL_EVENTS], 'the v1 COMPLETED epoch validation reads the whole split');

  const plain = await run(smallConfig(data, tmp(), { trainsamples: TRAIN_EVENTS, num_epochs: 1 }));
  assert.ok(!plain.lines.some((l) => /TRAINING REPORT|EVALUATION/.test(l)), 'no v2 lines without validation_interval');
});

test('create_summary: loss and global_step/sec every 100 steps and the validation scalars, as JSON lines by step', async () => {
  const big = tmp();
  await writeSplit(big, 'train', 1000);
  await writeSplit(big, 'val', 8);
  const on = await run(smallConfig(big, tmp(), { trainsamples: 1000, num_epochs: 1, display_interval: 50, create_summary: true }));
  const file = path.join(on.result.outputDir, 'logs', 'summary_rank0.jsonl');
  const records = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(records.map((r) => [r.step, r.tag]), [
    [100, 'loss'],
    [100, 'global_step/sec'],
    [100, 'validation/loss'],
    [100, 'validation/accuracy'],
    [100, 'validation/auc'],
  ]);
  const step100 = on.events.find((e) => e.type === 'step' && e.step === 100);
  assert.equal(records[0].value, step100 && step100.type === 'step' ? step100.loss : NaN, 'the step loss');
  assert.ok(records[1].value > 0 && records.every((r) => typeof r.wall_time === 'number'));
  const off = await run(smallConfig(data, tmp(), { trainsamples: TRAIN_EVENTS, num_epochs: 1 }));
  assert.ok(!fs.existsSync(path.join(off.result.outputDir, 'logs', 'summary_rank0.jsonl')), 'create_summary false writes none');
});

test("the seed's start-up lines: thread parallelism and the update mode", async () => {
  const { lines } = await run(smallConfig(data, tmp(), { trainsamples: TRAIN_EVENTS, num_epochs: 1 }));
  assert.ok(lines.includes('Rank 0 : using  1 -way task parallelism with  1 -way data parallelism.'), lines.join('\n'));
  assert.ok(lines.includes('Rank 0 performing asynchronous updates'), 'one task: the seed prints asynchronous');
  const order = ['Rank 0 : Building model', 'Rank 0 performing asynchronous updates', 'Stopping after 2 global steps', 'Rank 0 : starting training using ADAM optimizer'].map((l) => lines.indexOf(l));
  assert.deepEqual([...order].sort((x, y) => x - y), order, 'in the seed order');
});
