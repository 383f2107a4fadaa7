/**
 * The learning-rate scan's trial table (notebooks/tasks/live-displays.ts
 * ScanTable, used by parallel_basics) against a real local cluster of one
 * engine with one slot, so trials queue: every trial is shown from the start,
 * a cancelled scan leaves no row 'running', learning rates read 3e-4; and
 * LiveTrainingCurves draws only the metrics asked for.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { Cluster } from '../../cluster';
import type { DisplayChannel } from '../../src/notebook-hooks';
import { formatLearningRate, LiveTrainingCurves, ScanTable } from '../../notebooks/tasks/live-displays';

const silent: DisplayChannel = { publish: () => undefined };
let cluster: Cluster;
let dir: string;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-scan-table-'));
  cluster = await Cluster.start({ engines: 1, slots: 1, profileDir: dir, output: 'none', log: () => undefined, handleSigint: false });
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const stateOf = (table: ScanTable) => Object.fromEntries(table.table.rows.map((r) => [r.trial, r.state]));

test('queued trials are listed, a cancelled scan leaves no trial running, learning rates read 3e-4', { timeout: 120_000 }, async () => {
  const trials = [3e-3, 1e-3, 3e-4].map((learningRate, trial) => ({ trial, learningRate }));
  const table = new ScanTable(trials, { channel: silent });
  assert.deepEqual(stateOf(table), { 0: 'queued', 1: 'queued', 2: 'queued' }, 'every trial shown before any starts');
  const scan = cluster.balanced().map(async (t: { trial: number }) => {
    await new Promise((r) => setTimeout(r, 60_000));
    return t.trial;
  }, trials);
  table.follow(scan);
  for (let i = 0; i < 200 && stateOf(table)[0] !== 'running'; i++) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(stateOf(table), { 0: 'running', 1: 'queued', 2: 'queued' }, 'one slot: one running, two queued');
  await scan.cancel();
  await Promise.resolve(scan).catch(() => undefined);
  table.close();
  assert.deepEqual(stateOf(table), { 0: 'cancelled', 1: 'cancelled', 2: 'cancelled' });
  assert.deepEqual(table.table.rows.map((r) => r['learning rate']), ['3e-3', '1e-3', '3e-4']);
  assert.equal(formatLearningRate(0.00025), '2.5e-4');
});

test('LiveTrainingCurves draws only the metrics asked for', () => {
  const curves = new LiveTrainingCurves({ metrics: ['loss', 'auc'], channel: silent });
  curves.addTrainEvent({ type: 'step', step: 1, loss: 0.7 }, 'trial 0');
  curves.addTrainEvent({ type: 'validation', step: 1, loss: 0.69, accuracy: 0.55, auc: 0.6 }, 'trial 0');
  const axes = new Set(curves.live.figure.data.map((t) => (t as { yaxis: string }).yaxis));
  assert.deepEqual([...axes].sort(), ['y', 'y2'], 'loss and AUC subplots, no accuracy');
  assert.equal(curves.points, 3);
  curves.close();
});
