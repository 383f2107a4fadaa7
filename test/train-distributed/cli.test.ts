/**
 * `hpcdl train` on several ranks from the command line: --engines N (a local
 * cluster started by the command), --connect CLUSTER (a running one), and
 * `srun -n 2 hpcdl train` on the project's test Slurm (the built CLI, one rank
 * per Slurm task, no controller). Usage errors name the flag.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { hpcdl, oneLine, ROOT, writeTinyConfig } from '../cli/support';
import { slurmUnavailable, startSlurm, type Slurm } from '../cluster/support/slurm';
import { runProcess } from '../support/run';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-dist-cli-'));
const env = { HPCDL_HOME: path.join(dir, 'home'), HPCDL_GROUP_HOST: '127.0.0.1' };
let config: string;

before(() => {
  config = writeTinyConfig(dir);
});

after(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function hashes(stdout: string): string[] {
  return [...stdout.matchAll(/weights sha256 ([0-9a-f]{16})/g)].map((m) => m[1]);
}

test('hpcdl train --engines 2 starts a local cluster and trains one model on both engines', async () => {
  const output = path.join(dir, 'engines');
  const r = await hpcdl(['train', '--config', config, '--engines', '2', '--dummy-data', '--max-steps', '6', '--output', output], { env, timeoutMs: 240_000 });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /finished at global step 6 on 2 ranks \(1 group\)/);
  assert.match(r.stdout, /images\/s, allreduce [\d.]+ ms per step \([\d.]+% of a step\)/);
  const h = hashes(r.stdout);
  assert.equal(h.length >= 2, true, r.stdout);
  assert.equal(new Set(h).size, 1, `one weights hash on every rank: ${h}`);
  assert.match(r.stdout, /\[stdout:\d+\] \S+ REPORT rank 0 global step 5\./, 'rank 0 speaks, through the task stream');
  assert.doesNotMatch(r.stdout, /REPORT rank 1/, 'only rank 0 prints the REPORT lines');
  assert.match(r.stdout, /checkpoint: \S+ckpt-00000006\.json/);
});

test('hpcdl train --connect uses the engines of a running cluster', async () => {
  const cluster = await Cluster.start({ engines: 2, profileDir: path.join(dir, 'home'), output: 'none', log: () => undefined });
  try {
    const r = await hpcdl(['train', '--config', config, '--connect', cluster.connectionFile, '--dummy-data', '--max-steps', '3', '--output', path.join(dir, 'connect')], { env, timeoutMs: 240_000 });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, new RegExp(`cluster ${cluster.clusterId} with engines ${cluster.engineIds.join(', ')}`));
    assert.match(r.stdout, /finished at global step 3 on 2 ranks/);
    assert.equal(new Set(hashes(r.stdout)).size, 1);
  } finally {
    await cluster.close();
  }
});

test('usage errors name the flag', async () => {
  const bad = await hpcdl(['train', '--config', config, '--engines', 'zero'], { env });
  assert.equal(bad.code, 2);
  assert.match(oneLine(bad.stderr), /--engines must be a positive integer, 'all' or a list of engine ids/);
  const both = await hpcdl(['train', '--config', config, '--engines', '2', '--warmup-epochs', '1', '--warmup-steps', '3'], { env });
  assert.equal(both.code, 2);
  assert.match(oneLine(both.stderr), /give --warmup-epochs or --warmup-steps, not both/);
});

const noSlurm = slurmUnavailable();
const cli = path.join(ROOT, 'dist', 'cli', 'index.js');

test('srun -n 2 hpcdl train: one rank per Slurm task, formed from the Slurm environment', { skip: noSlurm ?? (fs.existsSync(cli) ? false : 'needs the built CLI (npm run build)') }, async () => {
  const slurm: Slurm = await startSlurm();
  try {
    const output = path.join(dir, 'srun');
    const r = await runProcess('srun', ['-n', '2', process.execPath, cli, 'train', '--config', config, '--dummy-data', '--max-steps', '4', '--output', output], {
      env: { ...slurm.env, ...env, HPCDL_GROUP_HOST: '' },
      timeoutMs: 240_000,
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^Rank 1 : data parallelism over 2 ranks \(synchronous allreduce\)$/m);
    assert.match(r.stdout, /Rank 0 : 2 ranks, 4 steps, allreduce [\d.]+ ms per step; checkpoint \S+ckpt-00000004\.json/);
    const h = [...r.stdout.matchAll(/Rank (\d) : final weights sha256 ([0-9a-f]{16})/g)].map((m) => [m[1], m[2]]);
    assert.deepEqual(h.map(([rank]) => rank).sort(), ['0', '1'], r.stdout);
    assert.equal(new Set(h.map(([, hash]) => hash)).size, 1, `bit-identical weights on both Slurm tasks: ${JSON.stringify(h)}`);
    assert.doesNotMatch(r.stdout, /REPORT rank 1/);
    assert.ok(fs.existsSync(path.join(output, 'models', 'ckpt-00000004.json')));

    // a user module's model the same way (the toy MLP, TypeScript without a build)
    const toyConfig = path.join(dir, 'toy.json');
    fs.writeFileSync(toyConfig, JSON.stringify({ batchSize: 64, learningRate: 0.01, epochs: 2, events: 512, seed: 3 }));
    const toy = await runProcess('srun', ['-n', '2', process.execPath, cli, 'train', '--module', path.join(__dirname, 'toy-mlp.ts'), '--config', toyConfig, '--output', path.join(dir, 'srun-toy')], {
      env: { ...slurm.env, ...env, HPCDL_GROUP_HOST: '' },
      timeoutMs: 240_000,
    });
    assert.equal(toy.code, 0, toy.stderr + toy.stdout);
    assert.match(toy.stdout, /Rank 0 : 2 ranks, 16 steps; checkpoint \S+ckpt-00000016\.json/);
    const toyHashes = [...toy.stdout.matchAll(/Rank (\d) : final weights sha256 ([0-9a-f]{16})/g)].map((m) => m[2]);
    assert.equal(toyHashes.length, 2, toy.stdout);
    assert.equal(new Set(toyHashes).size, 1, 'the same weights on both Slurm tasks');
  } finally {
    await slurm.stop();
  }
});
