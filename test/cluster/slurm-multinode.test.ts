/**
 * More than one node on one machine: a real Slurm whose slurmds run in their
 * own network/UTS/mount namespaces (support/slurm-multinode.ts). Host lists,
 * the controller's non-loopback address, engines on both nodes and a
 * data-parallel training across them are exercised as on a real cluster.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { makeScripts } from '../../make_scripts';
import { multiNodeUnavailable, startMultiNodeSlurm, type MultiNodeSlurm } from './support/slurm-multinode';

const ROOT = path.resolve(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'cli', 'index.js');
const skip = multiNodeUnavailable();
let slurm: MultiNodeSlurm;
let dir: string;

before(async () => {
  if (skip) return;
  assert.ok(fs.existsSync(CLI), `${CLI} missing (npm run build)`);
  slurm = await startMultiNodeSlurm(2);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-nodes-'));
  fs.chmodSync(dir, 0o755);
});

after(async () => {
  if (skip) return;
  await slurm?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  return { ...process.env, ...slurm.env, HPCDL_ROOT: ROOT, HPCDL_HOME: path.join(dir, 'profile') };
}

async function runJob(args: string[], timeoutMs: number): Promise<string> {
  const log = path.join(dir, `job-${Date.now()}.out`);
  const id = execFileSync('/usr/bin/sbatch', ['--parsable', '-o', log, '-D', dir, ...args], { env: env(), encoding: 'utf8' }).trim().split(';')[0];
  const deadline = Date.now() + timeoutMs;
  while (slurm.squeue().some((l) => l.startsWith(`${id} `)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 500));
  const info = execFileSync('/usr/bin/scontrol', ['show', 'job', '-o', id], { env: env(), encoding: 'utf8' });
  const text = fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '(no log)';
  assert.match(info, /JobState=COMPLETED .*ExitCode=0:0|ExitCode=0:0 .*JobState=COMPLETED|JobState=COMPLETED/, `job ${id}: ${info}\n${text}`);
  assert.match(info, /ExitCode=0:0/, `job ${id}: ${info}\n${text}`);
  return text;
}

test('each node has its own host name and address; hpcdl slurm hostnames expands the job node list as scontrol does', { skip: skip ?? false }, () => {
  const out = execFileSync('/usr/bin/srun', ['-N', '2', '-n', '2', 'sh', '-c', `echo "$(hostname) $(ip -4 -o addr show eth0 | awk '{print $4}') $(${process.execPath} ${CLI} slurm hostnames | tr '\\n' ' ')| $(scontrol show hostnames | tr '\\n' ' ')"`], { env: env(), encoding: 'utf8', timeout: 60_000 });
  const lines = out.trim().split('\n').map((l) => l.trimEnd()).sort();
  assert.equal(lines.length, 2, out);
  for (const [i, node] of slurm.nodes.entries()) {
    assert.equal(lines[i], `${node.name} ${node.address}/24 node1 node2 | node1 node2`);
  }
});

test('a notebook script in a 2-node job: the controller advertises its non-loopback address, srun engines on both nodes run tasks', { skip: skip ?? false }, async () => {
  const nbDir = path.join(dir, 'nb');
  fs.mkdirSync(nbDir, { recursive: true });
  const notebook = path.join(nbDir, 'two_nodes.ipynb');
  const cells = [
    "import { Cluster } from 'hpcdl/cluster';\nconst cluster = await Cluster.start({ engines: 2, launcher: 'srun', slurm: { tasksPerNode: 1 } });",
    "console.log(`controller ${cluster.url}`);\nconst hosts = await cluster.all().apply(() => require('node:os').hostname());\nconsole.log(`engine hosts ${[...hosts].sort().join(' ')}`);\nawait cluster.close();",
  ];
  fs.writeFileSync(notebook, JSON.stringify({ cells: cells.map((source) => ({ cell_type: 'code', metadata: {}, source })), metadata: {}, nbformat: 4, nbformat_minor: 5 }));
  const [made] = makeScripts([notebook], path.join(dir, 'scripts'));
  const log = await runJob(['-N', '2', '--ntasks-per-node=1', made.sbatch], 180_000);
  assert.match(log, new RegExp(`^controller wss://${slurm.nodes[0].address.replace(/\./g, '\\.')}:\\d+`, 'm'), log);
  assert.match(log, /^engine hosts node1 node2$/m, log);
  assert.match(log, /rank 1 of 2: the notebook runs on rank 0 only/);
});

test('the local_small run script on 2 nodes trains one model data-parallel across them', { skip: skip ?? false }, async () => {
  const log = await runJob(['-N', '2', '--ntasks-per-node=1', path.join(ROOT, 'batch_scripts', 'run_scripts', 'local_small.sbatch'), '--dummy-data', '--max-steps', '4', '--output', path.join(dir, 'two-nodes')], 300_000);
  assert.match(log, /^Rank 0 : 2 ranks, 4 steps, allreduce [0-9.]+ ms per step/m, log);
});
