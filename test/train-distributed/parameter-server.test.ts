/**
 * The parameter-server strategy of cluster.train against real engine
 * processes (a local cluster of 4 engines): sync with 1 server + 2 workers
 * reaches the weights of allreduce on 2 ranks; sync with a hot spare
 * aggregates workers - 1 pushes per step and drops (and counts) the late
 * one; async applies every push exactly once and learns; a SIGKILLed server
 * stops the workers within 5 s, named.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import type { RankResult, TrainingReport } from '../../cluster/train';
import { initBackend } from '../../src/backend';
import { loadCheckpoint, namedVariablesOf, type ParameterServerStats, type UserRunConfig } from '../../src/train';
import { ToyMlp } from './toy-mlp';

const TOY = path.join(__dirname, 'toy-mlp.ts');
const STRAGGLER = path.join(__dirname, 'straggler-mlp.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-ps-'));
const logs: string[] = [];
let cluster: Cluster;

before(async () => {
  process.env.HPCDL_GROUP_HOST = '127.0.0.1'; // the engines inherit it: rank listeners bind to loopback
  await initBackend({ force: 'cpu', log: () => undefined });
  cluster = await Cluster.start({ engines: 4, profileDir: dir, output: 'none', log: (l) => logs.push(l), maxReplacements: 3 });
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A checkpoint's weights, then its Adam moments m and v, as flat arrays per variable. */
async function stateOf(manifest: string): Promise<Float32Array[]> {
  const model = new ToyMlp(0, 32);
  const loaded = await loadCheckpoint(manifest, namedVariablesOf(model));
  const values = model.variables.map((v) => (v.dataSync() as Float32Array).slice());
  model.dispose();
  assert.ok(loaded.optimizerState, `${manifest} carries the Adam state`);
  return [...values, ...loaded.optimizerState.m, ...loaded.optimizerState.v];
}

function maxDifference(a: Float32Array[], b: Float32Array[]): number {
  let maxDiff = 0;
  a.forEach((t, i) => t.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - b[i][j])))));
  return maxDiff;
}

const toyConfig: UserRunConfig = { batchSize: 64, learningRate: 0.01, epochs: 3, events: 1024, seed: 5 };

function serverStats(ranks: RankResult[]): ParameterServerStats {
  const server = ranks.find((r) => r.role === 'ps');
  assert.ok(server?.parameterServers?.[0], 'the parameter server returned its counters');
  return server.parameterServers[0];
}

test('sync, 1 parameter server + 2 workers: the weights of allreduce on 2 ranks after 48 steps', async () => {
  const reports: TrainingReport[] = [];
  const run = cluster.train({ module: TOY, config: toyConfig, engines: 3, numPs: 1, mode: 'sync', output: path.join(dir, 'ps-sync'), log: (l) => logs.push(l) });
  run.onReport((r) => reports.push(r));
  const ps = await run;
  assert.equal(ps.steps, 48);
  assert.deepEqual(run.placement.map((p) => p.role), ['parameter server 0', 'worker 0, the chief', 'worker 1']);
  const stats = serverStats(ps.ranks);
  assert.equal(stats.globalStep, 48);
  assert.deepEqual(stats.pushesByWorker, [48, 48]);
  assert.equal(stats.applied, 96, 'every push of both workers averaged into a step');
  assert.equal(stats.dropped, 0);
  const workers = ps.ranks.filter((r) => r.role === 'worker');
  assert.ok(workers[0].weightsHash && workers.every((w) => w.weightsHash === workers[0].weightsHash), 'both workers end with the same weights');

  const ar = await cluster.train({ module: TOY, config: toyConfig, engines: 2, lrScaling: 'none', output: path.join(dir, 'allreduce'), log: (l) => logs.push(l) });
  assert.equal(ar.steps, 48);
  const reference = await stateOf(ar.checkpoint!);
  const maxDiff = maxDifference(await stateOf(ps.checkpoint!), reference);
  console.log(`max |state(1 ps + 2 workers, sync) - state(allreduce, 2 ranks)| over weights and Adam moments = ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff < 1e-4, `weights or Adam moments differ by ${maxDiff}`);

  // two servers: each holds half of the flattened variables; the same update
  const two = await cluster.train({ module: TOY, config: toyConfig, engines: 4, numPs: 2, output: path.join(dir, 'ps-two'), log: (l) => logs.push(l) });
  const servers = two.ranks.filter((r) => r.role === 'ps').map((r) => r.parameterServers![0]);
  assert.deepEqual(servers.map((x) => x.globalStep), [48, 48]);
  const values = 16 * 32 + 32 + 32 * 2 + 2;
  assert.deepEqual(servers.map((x) => x.values), [Math.floor(values / 2), values - Math.floor(values / 2)], 'balanced slices');
  const maxDiffTwo = maxDifference(await stateOf(two.checkpoint!), reference);
  console.log(`max |state(2 ps + 2 workers, sync) - state(allreduce, 2 ranks)| = ${maxDiffTwo.toExponential(2)}`);
  assert.ok(maxDiffTwo < 1e-4, `2 servers: weights or Adam moments differ by ${maxDiffTwo}`);

  const global = reports.filter((r): r is Extract<TrainingReport, { kind: 'global' }> => r.kind === 'global');
  assert.equal(global.length, 48, 'a global figure per step, from the 2 workers');
  assert.ok(ps.history[2].validation!.auc > 0.75, `the chief validates: AUC ${ps.history[2].validation!.auc}`);
  const chiefLog = fs.readFileSync(path.join(dir, 'ps-sync', 'logs', 'train_rank0.log'), 'utf8');
  assert.match(chiefLog, /^Rank 0 performing synchronous updates$/m, "the seed's line");
});

test('sync with a hot spare: a step aggregates workers - 1 pushes, the late gradient is dropped and counted', async () => {
  const config: UserRunConfig = { ...toyConfig, batchSize: 48, epochs: 2, events: 768, slowRank: 2, slowMs: 120 };
  const outcome = await cluster.train({ module: STRAGGLER, config, engines: 4, numPs: 1, mode: 'sync', numHotSpares: 1, output: path.join(dir, 'spare'), log: (l) => logs.push(l) });
  const stats = serverStats(outcome.ranks);
  const workerSteps = outcome.ranks.filter((r) => r.role === 'worker').map((r) => r.steps);
  console.log(`hot spare: ${stats.globalStep} steps from ${stats.pushes} pushes (per worker ${stats.pushesByWorker.join(', ')}), ${stats.applied} applied, ${stats.dropped} dropped (per worker ${stats.droppedByWorker.join(', ')}), ${stats.shortSteps} steps after workers finished`);
  assert.deepEqual(stats.pushesByWorker, workerSteps, 'the server counted every push');
  assert.equal(stats.applied + stats.dropped, stats.pushes, 'each push applied or dropped, once');
  assert.ok(stats.droppedByWorker[2] >= 1, 'the slow worker\'s late gradients were dropped');
  // a step waits for 2 pushes while 2 workers or more are training, for 1 after
  assert.equal(stats.applied, 2 * (stats.globalStep - stats.shortSteps) + stats.shortSteps);
  assert.ok(stats.globalStep - stats.shortSteps >= 16, `${stats.globalStep - stats.shortSteps} steps of 2 pushes`);
  assert.ok(outcome.steps <= stats.globalStep, 'the chief stops at its last push; the slow worker trains on alone');
});

test('async, 1 parameter server + 2 workers: every push applied exactly once, the loss falls', async () => {
  const reports: TrainingReport[] = [];
  const run = cluster.train({ module: TOY, config: { ...toyConfig, epochs: 4 }, engines: 3, numPs: 1, mode: 'async', checkpointInterval: 10, output: path.join(dir, 'async'), log: (l) => logs.push(l) });
  run.onReport((r) => reports.push(r));
  const outcome = await run;
  const stats = serverStats(outcome.ranks);
  const workers = outcome.ranks.filter((r) => r.role === 'worker');
  const total = workers.reduce((n, w) => n + w.steps, 0);
  console.log(`async: ${total} worker steps (${workers.map((w) => w.steps).join(' + ')}), server step ${stats.globalStep}, staleness mean ${stats.staleness.mean.toFixed(2)} max ${stats.staleness.max}`);
  assert.equal(total, 2 * 64, 'each worker trains its 4 epochs of 16 batches');
  assert.equal(stats.globalStep, total, 'the global step counts every push once');
  assert.equal(stats.applied, total);
  assert.deepEqual(stats.pushesByWorker, workers.map((w) => w.steps));
  const global = reports.filter((r): r is Extract<TrainingReport, { kind: 'global' }> => r.kind === 'global');
  assert.equal(new Set(global.map((g) => g.step)).size, total, 'every global step reported once, by the worker whose push made it');
  const staleness = reports.filter((r) => r.kind === 'rank' && r.type === 'step').map((r) => Number((r as { staleness?: unknown }).staleness));
  assert.equal(staleness.length, total);
  assert.ok(staleness.every((x) => Number.isInteger(x) && x >= 0) && staleness.some((x) => x > 0), 'each step reports its staleness; some pushes were stale');
  assert.equal(Math.max(...staleness), stats.staleness.max);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const first = mean(global.slice(0, 16).map((g) => g.loss));
  const last = mean(global.slice(-16).map((g) => g.loss));
  assert.ok(last < first * 0.8, `the toy MLP learns: mean loss ${first.toFixed(3)} → ${last.toFixed(3)}`);
  // the chief's global step jumps by the other worker's pushes: a checkpoint whenever it crosses a multiple of 10
  const saved = reports.filter((r) => r.kind === 'rank' && r.type === 'checkpoint' && r.rank === 1).map((r) => Number((r as { step: unknown }).step));
  console.log(`async: the chief saved checkpoints at global steps ${saved.join(', ')}`);
  assert.ok(saved.length >= 6, `checkpoints at ${saved.join(', ')}`);
  saved.slice(1).forEach((s, i) => assert.ok(s > saved[i]));
});

test('a SIGKILLed parameter server stops the workers within 5 s, and the errors name it', async () => {
  const reports: TrainingReport[] = [];
  const run = cluster.train({ module: TOY, config: { ...toyConfig, epochs: 40, delayMs: 40 }, engines: 3, numPs: 1, output: path.join(dir, 'kill-ps'), log: (l) => logs.push(l) });
  run.onReport((r) => reports.push(r));
  const t0 = Date.now();
  while (!reports.some((r) => r.kind === 'global' && r.step >= 10) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  const server = run.placement[0];
  const pid = (await cluster.engines()).find((e) => e.engine_id === server.engineId)!.pid;
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  await assert.rejects(async () => run, (err: Error) => {
    assert.match(err.message, new RegExp(`rank 0 \\(parameter server 0, engine ${server.engineId} on host ${server.host}\\)`));
    return true;
  });
  for (const rank of [1, 2]) {
    const ended = reports.find((r): r is Extract<TrainingReport, { kind: 'rank-ended' }> => r.kind === 'rank-ended' && r.rank === rank);
    assert.ok(ended && !ended.ok, `worker rank ${rank} failed too`);
    console.log(`rank ${rank} stopped ${ended.at - killedAt} ms after the server's engine was killed: ${ended.error}`);
    assert.ok(ended.at - killedAt < 5000, `rank ${rank} stopped ${ended.at - killedAt} ms after the kill`);
    assert.match(ended.error!, /lost its parameter servers.*rank 0/, 'the worker names the lost server');
  }
  await cluster.waitForEngines(4, 30_000);
});

test('the HEP CNN from a config with num_ps 1: the servers train it, the chief writes the checkpoint, no gradient byte through the controller', async () => {
  const base = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'configs', 'local_small.json'), 'utf8'));
  const config = { ...base, num_ps: 1, mode: 'sync', num_hot_spares: 0, outputpath: path.join(dir, 'hep'), inputpath: path.join(dir, 'none') };
  const status0 = await cluster.controllerStatus();
  const outcome = await cluster.train({ config, engines: 3, dummyData: true, maxSteps: 3, threads: 1, log: (l) => logs.push(l) });
  const status1 = await cluster.controllerStatus();
  const controllerBytes = (status1.wire as { bytes_received: number }).bytes_received - (status0.wire as { bytes_received: number }).bytes_received;
  assert.equal(outcome.steps, 3);
  const stats = serverStats(outcome.ranks);
  assert.equal(stats.globalStep, 3);
  assert.deepEqual(stats.pushesByWorker, [3, 3]);
  assert.ok(outcome.checkpoint && fs.existsSync(outcome.checkpoint), `the chief's checkpoint ${outcome.checkpoint}`);
  const gradientBytes = 3 * 2 * stats.values * 4;
  const peerBytes = outcome.ranks.reduce((n, r) => n + r.groupStats.bytesSent, 0);
  console.log(`HEP CNN, 1 ps + 2 workers: ranks sent each other ${peerBytes} B (gradients ${gradientBytes} B), the controller received ${controllerBytes} B`);
  assert.ok(peerBytes >= 2 * gradientBytes, 'gradients to the server and weights back went rank to rank');
  assert.ok(controllerBytes < stats.values * 4, `controller bytes ${controllerBytes} < one gradient`);
});

test("restart: 'checkpoint' with a parameter server: a killed worker's group re-forms and the servers continue from the chief's checkpoint", async () => {
  const reports: TrainingReport[] = [];
  const config: UserRunConfig = { ...toyConfig, epochs: 40, delayMs: 40, maxSteps: 40 };
  const run = cluster.train({ module: TOY, config, engines: 3, numPs: 1, checkpointInterval: 10, restart: 'checkpoint', output: path.join(dir, 'ps-restart'), log: (l) => logs.push(l) });
  run.onReport((r) => reports.push(r));
  const t0 = Date.now();
  while (!reports.some((r) => r.kind === 'global' && r.step >= 15) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  const victim = run.placement[2];
  process.kill((await cluster.engines()).find((e) => e.engine_id === victim.engineId)!.pid, 'SIGKILL');
  const outcome = await run;
  assert.equal(outcome.attempts, 2);
  assert.equal(outcome.steps, 40);
  const checkpoints = reports.filter((r) => r.kind === 'rank' && r.type === 'checkpoint' && r.attempt === 1).map((r) => Number((r as { step: unknown }).step));
  const restartPoint = Math.max(...checkpoints);
  const second = outcome.globalSteps.filter((g) => g.attempt === 2).map((g) => g.step);
  console.log(`parameter-server restart from step ${restartPoint}; second group ran steps ${second[0]}..${second[second.length - 1]}`);
  assert.deepEqual(second, Array.from({ length: 40 - restartPoint }, (_, i) => restartPoint + 1 + i), 'each step after the restart point exactly once');
  const stats = serverStats(outcome.ranks);
  assert.equal(stats.globalStep, 40, 'the new server started at the checkpoint\'s step');
  assert.equal(stats.applied, 2 * (40 - restartPoint));
  await cluster.waitForEngines(4, 30_000);
});

test('run.cancel() stops the server and the workers; the outcome keeps the chief\'s newest checkpoint', async () => {
  const reports: TrainingReport[] = [];
  const run = cluster.train({ module: TOY, config: { ...toyConfig, epochs: 40, delayMs: 40 }, engines: 3, numPs: 1, checkpointInterval: 5, output: path.join(dir, 'cancel'), log: (l) => logs.push(l) });
  run.onReport((r) => reports.push(r));
  const t0 = Date.now();
  while (!reports.some((r) => r.kind === 'global' && r.step >= 12) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  const cancelledAt = Date.now();
  await run.cancel();
  const outcome = await run;
  console.log(`cancelled at step ${outcome.steps}, ${Date.now() - cancelledAt} ms after cancel(); checkpoint ${outcome.checkpoint}`);
  assert.equal(outcome.cancelled, true);
  assert.ok(Date.now() - cancelledAt < 15_000);
  assert.ok(outcome.checkpoint && fs.existsSync(outcome.checkpoint), 'the chief\'s newest checkpoint');
  const ended = reports.filter((r) => r.kind === 'rank-ended').map((r) => (r as { rank: number }).rank).sort();
  assert.deepEqual(ended, [0, 1, 2], 'every rank, the server too, ended');
});
