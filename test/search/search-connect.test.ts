/**
 * `hpcdl search --connect <connection file>`: the CLI joins a cluster this
 * test process started (controller + 2 engines), runs its trials on that
 * cluster's engines, and leaves the cluster running when it exits (it did
 * not start it, so it must not stop it).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { hpcdl } from '../cli/support';
import { tempDirMaker } from '../support/tmp';

const OBJECTIVES = path.join(__dirname, 'support', 'objectives.ts');
const TOY = path.join(__dirname, '..', 'train-distributed', 'toy-mlp.ts');
let cluster: Cluster;

after(async () => {
  await cluster?.close();
});
// registered after the cluster's hook: the cluster stops before its directories are removed
const tempDir = tempDirMaker('hpcdl-search-connect-');

before(async () => {
  process.env.HPCDL_GROUP_HOST = '127.0.0.1'; // the engines inherit it: rank listeners bind to loopback
  cluster = await Cluster.start({ engines: 2, profileDir: tempDir(), output: 'none', log: () => undefined });
});

test('hpcdl search --connect runs the study on that cluster\'s engines and leaves the cluster running', { timeout: 120_000 }, async () => {
  const work = tempDir();
  const space = path.join(work, 'space.json');
  fs.writeFileSync(space, JSON.stringify({ x: { type: 'float', low: 0, high: 1 } }));
  const out = path.join(work, 'study');
  const file = cluster.connectionFile;
  const before = (await cluster.engines()).map((e) => e.engine_id).sort();
  const done0 = (await cluster.controllerStatus()).tasks as { done: number };
  const r = await hpcdl(['search', '--connect', file, '--objective', `${OBJECTIVES}#bowl`, '--space', space, '--algorithm', 'random', '--trials', '4', '--direction', 'max', '--seed', '1', '--out', out], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, `exit 0:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`on 2 engine\\(s\\) of ${cluster.clusterId}`), r.stdout);
  assert.match(r.stdout, /\[4\/4 finished, 0 running/);
  const csv = fs.readFileSync(path.join(out, 'trials.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 5, 'header + 4 trials');

  // the trials ran on this cluster's engines (the objective logs its engine id)
  const used = new Set(fs.readFileSync(path.join(out, 'trials', 'events.log'), 'utf8').trim().split('\n').filter((l) => l.startsWith('start ')).map((l) => Number(l.split(' ')[2])));
  assert.ok(used.size >= 1 && [...used].every((id) => before.includes(id)), `engines used ${[...used].join(', ')} are the cluster's ${before.join(', ')}`);

  // the cluster is still up, with the same engines, and takes work
  const after = await cluster.engines();
  assert.deepEqual(after.filter((e) => e.state === 'alive').map((e) => e.engine_id).sort(), before, 'the same engines are alive');
  const done1 = (await cluster.controllerStatus()).tasks as { done: number };
  assert.equal(done1.done - done0.done, 4, 'this controller ran the 4 trials');
  fs.mkdirSync(path.join(work, 'after'), { recursive: true });
  const value = await cluster.balanced().submit<number>({ module: OBJECTIVES, export: 'bowl' }, { x: 0.3, epochs: 1, ms: 1 }, { trial: 0, fold: 0, folds: 1, dir: path.join(work, 'after', 'trial-0'), seed: 0, metric: 'value', direction: 'max' });
  assert.equal(value, 1, 'the cluster still runs tasks');
});

test('hpcdl search --connect --engines-per-trial 2: each trial trains on both of that cluster\'s engines', { timeout: 120_000 }, async () => {
  const work = tempDir();
  const space = path.join(work, 'space.json');
  // a {buildModel, batchSource} training's run config comes from the space when the CLI gives no other
  fs.writeFileSync(space, JSON.stringify({ learningRate: { type: 'categorical', choices: [0.05, 0.02] }, batchSize: { type: 'categorical', choices: [64] }, epochs: { type: 'categorical', choices: [2] } }));
  const out = path.join(work, 'study');
  const r = await hpcdl(['search', '--connect', cluster.connectionFile, '--objective', `${TOY}#training`, '--engines-per-trial', '2', '--space', space, '--algorithm', 'grid', '--trials', '2', '--out', out], { timeoutMs: 90_000 });
  assert.equal(r.code, 0, `exit 0:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, new RegExp(`2 engines per trial on 2 engine\\(s\\) of ${cluster.clusterId}`), r.stdout);
  assert.match(r.stdout, /\[2\/2 finished, 0 running/);
  const csv = fs.readFileSync(path.join(out, 'trials.csv'), 'utf8').trim().split('\n');
  const header = csv[0].split(',');
  const engineCol = header.indexOf('engine');
  assert.ok(engineCol >= 0, csv[0]);
  for (const line of csv.slice(1)) assert.match(line.split(',')[engineCol], /^\d+\+\d+$/, `a trial on two engines: ${line}`);
  assert.equal((await cluster.engines()).filter((e) => e.state === 'alive').length, 2, 'the cluster kept its engines');
});
