/**
 * cluster.train against real engine processes (a local cluster of 2 engines):
 * equivalence of 2 ranks at B/2 with 1 rank at B (the toy MLP user module),
 * bit-identical weights on every rank, the HEP CNN with the controller's and
 * client's byte counters, mismatched configs refused, a SIGKILLed rank
 * stopping the other within 5 s, and restart from the newest checkpoint.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import type { TrainingReport } from '../../cluster/train';
import type { RankResult, RankTaskArgs } from '../../cluster/train/rank-task';
import { initBackend } from '../../src/backend';
import { loadCheckpoint, namedVariablesOf, trainUserModel, type UserRunConfig } from '../../src/train';
import { ToyMlp, training as toyTraining } from './toy-mlp';

const TOY = path.join(__dirname, 'toy-mlp.ts');
const RANK_TASK = path.join(__dirname, '..', '..', 'cluster', 'train', 'rank-task.ts');
const REPO = path.join(__dirname, '..', '..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-dist-'));
const logs: string[] = [];
let cluster: Cluster;

before(async () => {
  process.env.HPCDL_GROUP_HOST = '127.0.0.1'; // the engines inherit it: rank listeners bind to loopback
  await initBackend({ force: 'cpu', log: () => undefined });
  cluster = await Cluster.start({ engines: 2, profileDir: dir, output: 'none', log: (l) => logs.push(l), maxReplacements: 3 });
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function weightsOf(manifest: string, hidden = 32): Promise<Float32Array[]> {
  const model = new ToyMlp(0, hidden);
  await loadCheckpoint(manifest, namedVariablesOf(model));
  const values = model.variables.map((v) => (v.dataSync() as Float32Array).slice());
  model.dispose();
  return values;
}

const toyConfig: UserRunConfig = { batchSize: 64, learningRate: 0.01, epochs: 3, events: 1024, seed: 5 };

test('2 engines at batch B/2 reach the weights of 1 rank at batch B; the weights are bit-identical on both ranks', async () => {
  const output = path.join(dir, 'equivalence');
  const reports: TrainingReport[] = [];
  const run = cluster.train({ module: TOY, config: toyConfig, engines: 2, lrScaling: 'none', output, log: (l) => logs.push(l) });
  run.onReport((r) => reports.push(r));
  const outcome = await run;
  assert.equal(outcome.steps, 48);
  assert.equal(outcome.ranks.length, 2);
  assert.deepEqual(new Set(outcome.ranks.map((r) => r.engineId)).size, 2, 'one rank per engine');
  for (const r of outcome.ranks) console.log(`rank ${r.rank} on engine ${r.engineId}: weights sha256 ${r.weightsHash}`);
  assert.ok(outcome.ranks[0].weightsHash && outcome.ranks[0].weightsHash === outcome.ranks[1].weightsHash, 'bit-identical weights');
  assert.ok(outcome.checkpoint && fs.existsSync(outcome.checkpoint), `final checkpoint ${outcome.checkpoint}`);

  const single = path.join(dir, 'single');
  await trainUserModel(toyTraining, { config: toyConfig, outputDir: single, log: () => undefined });
  const [a, b] = [await weightsOf(outcome.checkpoint!), await weightsOf(path.join(single, 'models', 'ckpt-00000048.json'))];
  let maxDiff = 0;
  a.forEach((t, i) => t.forEach((x, j) => (maxDiff = Math.max(maxDiff, Math.abs(x - b[i][j])))));
  console.log(`max |w(2 engines, B/2) - w(1 rank, B)| = ${maxDiff.toExponential(2)}`);
  assert.ok(maxDiff < 1e-4, `weights differ by ${maxDiff}`);

  const global = reports.filter((r): r is Extract<TrainingReport, { kind: 'global' }> => r.kind === 'global');
  assert.equal(global.length, 48, 'a global figure per step');
  assert.ok(global.every((g) => g.ranks === 2 && g.imagesPerSec > 0 && g.commMs >= 0 && g.commFraction >= 0 && g.commFraction <= 1));
  assert.ok(global[47].loss < global[0].loss, `the toy MLP learns: loss ${global[0].loss} → ${global[47].loss}`);
  const auc = outcome.history[2].validation!.auc;
  assert.ok(auc > 0.75, `validation AUC over both ranks' events ${auc}`);
  assert.equal(outcome.history[2].validation!.events, 512);
});

test('the HEP CNN on 2 engines: no gradient byte passes through the controller or the client', async () => {
  const output = path.join(dir, 'hep');
  const status0 = await cluster.controllerStatus();
  const client0 = cluster.bytesReceived;
  const run = cluster.train({ config: path.join(REPO, 'configs', 'local_small.json'), engines: 2, dummyData: true, maxSteps: 4, output, log: (l) => logs.push(l) });
  const outcome = await run;
  const status1 = await cluster.controllerStatus();
  const controllerBytes = (status1.wire as { bytes_received: number }).bytes_received - (status0.wire as { bytes_received: number }).bytes_received;
  const clientBytes = cluster.bytesReceived - client0;
  assert.equal(outcome.steps, 4);
  assert.equal(outcome.ranks[0].weightsHash, outcome.ranks[1].weightsHash);
  const gradientBytesPerStep = 70818 * 4; // local_small's parameters, float32
  const peerBytes = outcome.ranks.reduce((n, r) => n + r.groupStats.bytesSent, 0);
  console.log(`controller received ${controllerBytes} B, client ${clientBytes} B; ranks sent each other ${peerBytes} B; gradients ${gradientBytesPerStep} B per step`);
  assert.ok(peerBytes >= 4 * gradientBytesPerStep, 'the gradients went rank to rank');
  assert.ok(controllerBytes < gradientBytesPerStep, `controller bytes ${controllerBytes} < one step's gradients`);
  assert.ok(clientBytes < gradientBytesPerStep, `client bytes ${clientBytes} < one step's gradients`);
  assert.ok(fs.existsSync(path.join(output, 'logs', 'train_rank0.log')) && !fs.existsSync(path.join(output, 'logs', 'train_rank1.log')), 'only rank 0 logs');
});

test('ranks with different configs refuse to start, naming the field', async () => {
  const engines = cluster.engineIds.slice(0, 2);
  const key = 'ab'.repeat(32);
  const args = (rank: number, master?: string): RankTaskArgs => ({
    group: { groupId: 'mismatch', rank, size: 2, key, ...(master ? { master } : {}) },
    job: { kind: 'module', module: TOY, export: 'training', config: { ...toyConfig, learningRate: rank === 0 ? 0.01 : 0.02 }, outputDir: path.join(dir, 'mismatch') },
    resume: false,
  });
  const rank0 = cluster.engine(engines[0]).submit<RankResult>({ module: RANK_TASK, export: 'trainRank' }, args(0));
  const master = await new Promise<string>((resolve) => rank0.onReport((d) => typeof d.rendezvous === 'string' && resolve(d.rendezvous)));
  const rank1 = cluster.engine(engines[1]).submit<RankResult>({ module: RANK_TASK, export: 'trainRank' }, args(1, master));
  for (const h of [rank0, rank1]) {
    await assert.rejects(async () => h, /config field "learningRate": rank 0 has 0\.01, rank 1 has 0\.02/);
  }
});

test('run.cancel() stops every rank; awaiting the run gives the steps so far and the newest checkpoint', async () => {
  const run = cluster.train({ module: TOY, config: { ...toyConfig, epochs: 40, delayMs: 30 }, engines: 2, output: path.join(dir, 'cancel'), checkpointInterval: 5, log: (l) => logs.push(l) });
  const ended: TrainingReport[] = [];
  run.onReport((r) => {
    if (r.kind === 'global' && r.step === 12) void run.cancel();
    if (r.kind === 'rank-ended') ended.push(r);
  });
  const outcome = await run;
  assert.equal(outcome.cancelled, true);
  assert.ok(outcome.steps >= 12 && outcome.steps < 40 * 16, `stopped soon after step 12: ${outcome.steps}`);
  assert.match(outcome.checkpoint ?? '', /ckpt-000000(10|15)\.json$/);
  assert.equal(ended.length, 2, 'both ranks ended');
  assert.ok(ended.every((e) => e.kind === 'rank-ended' && !e.ok && /cancelled/.test(e.error ?? '')));
  assert.equal(cluster.engineIds.length, 2, 'the engines stay');
});

async function killRankDuringTraining(restart: boolean) {
  const output = path.join(dir, restart ? 'restart' : 'kill');
  const reports: TrainingReport[] = [];
  const config: UserRunConfig = { ...toyConfig, epochs: 40, delayMs: 40, maxSteps: 60 };
  const run = cluster.train({
    module: TOY,
    config,
    engines: 2,
    lrScaling: 'none',
    output,
    checkpointInterval: 10,
    restart: restart ? 'checkpoint' : 'none',
    log: (l) => logs.push(l),
  });
  run.onReport((r) => reports.push(r));
  const t0 = Date.now();
  while (!reports.some((r) => r.kind === 'global' && r.step >= 15) && Date.now() - t0 < 60_000) await new Promise((r) => setTimeout(r, 20));
  const victim = run.placement[1];
  const pid = (await cluster.engines()).find((e) => e.engine_id === victim.engineId)!.pid;
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  return { run, reports, victim, killedAt, output };
}

test('a SIGKILLed rank stops the other within 5 s, and the error names its rank, engine and host', async () => {
  const { run, reports, victim, killedAt } = await killRankDuringTraining(false);
  await assert.rejects(async () => run, (err: Error) => {
    assert.match(err.message, new RegExp(`rank 1 \\(engine ${victim.engineId} on host ${victim.host}\\)`));
    return true;
  });
  const survivor = reports.find((r): r is Extract<TrainingReport, { kind: 'rank-ended' }> => r.kind === 'rank-ended' && r.rank === 0);
  assert.ok(survivor && !survivor.ok, 'rank 0 failed too');
  console.log(`rank 0 stopped ${survivor.at - killedAt} ms after rank 1's engine was killed: ${survivor.error}`);
  assert.ok(survivor.at - killedAt < 5000, `rank 0 stopped ${survivor.at - killedAt} ms after the kill`);
  assert.match(survivor.error!, /rank 1/, 'the survivor names the lost rank');
  await cluster.waitForEngines(2, 30_000); // the launcher replaces the killed engine
});

test("restart: 'checkpoint' re-forms the group and finishes; no step runs twice after the restart point", async () => {
  const { run, reports } = await killRankDuringTraining(true);
  const outcome = await run;
  assert.equal(outcome.attempts, 2);
  assert.equal(outcome.steps, 60);
  const checkpoints = reports.filter((r) => r.kind === 'rank' && r.type === 'checkpoint' && r.attempt === 1).map((r) => Number((r as { step: unknown }).step));
  const restartPoint = Math.max(...checkpoints);
  const second = outcome.globalSteps.filter((g) => g.attempt === 2).map((g) => g.step);
  console.log(`restart from step ${restartPoint} (checkpoints at ${checkpoints.join(', ')}); second group ran steps ${second[0]}..${second[second.length - 1]}`);
  assert.equal(second[0], restartPoint + 1, 'the second group starts right after the newest checkpoint');
  assert.deepEqual(second, Array.from({ length: 60 - restartPoint }, (_, i) => restartPoint + 1 + i), 'each step after the restart point exactly once');
  assert.ok(outcome.ranks.every((r) => r.weightsHash === outcome.ranks[0].weightsHash));
});
