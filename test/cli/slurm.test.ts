/**
 * `hpcdl slurm` and the hostlist library behind it, compared with the real
 * `scontrol show hostnames` / `scontrol show hostlist` on generated cases
 * (scontrol needs only a valid slurm.conf for these, no running slurmctld).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { compressHostlist, expandHostlist } from '../../cluster/collectives/slurm-hostlist';
import { engineShareEnv, pinToSlurmShare, slurmAllocation } from '../../cluster/launchers/slurm-env';
import { hpcdl, oneLine, ROOT } from './support';
import { skipIfMissing } from '../support/skips';
import { Rng } from '../../src/data';
import { Cluster } from '../../cluster/client';
import { slurmUnavailable, startSlurm } from '../cluster/support/slurm';

const SCONTROL = '/usr/bin/scontrol';
const noScontrol = skipIfMissing(!fs.existsSync(SCONTROL) && 'scontrol missing (apt-get install slurm-wlm)');

function scontrolEnv(): NodeJS.ProcessEnv {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-scontrol-'));
  const conf = path.join(dir, 'slurm.conf');
  const host = os.hostname();
  fs.writeFileSync(conf, [
    'ClusterName=hostlists',
    `SlurmctldHost=${host}(127.0.0.1)`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    `NodeName=${host} CPUs=1 State=UNKNOWN`,
    'PartitionName=debug Nodes=ALL Default=YES',
    '',
  ].join('\n'));
  return { ...process.env, SLURM_CONF: conf };
}

function scontrol(env: NodeJS.ProcessEnv, what: 'hostnames' | 'hostlist', arg: string): { hosts: string[] | null; out: string } {
  const r = spawnSync(SCONTROL, ['show', what, arg], { env, encoding: 'utf8', timeout: 10_000 });
  // scontrol 22.05 exits 0 even when it refuses a list: the refusal is "Invalid hostlist" on stderr; with three or
  // more bracket groups it reports a bad range ("error: _parse_single_range") and drops that entry; both count as refused
  if (/Invalid hostlist|error:/.test(r.stderr)) return { hosts: null, out: r.stderr };
  assert.equal(r.status, 0, r.stderr);
  return { hosts: r.stdout.split('\n').filter((l) => l !== ''), out: r.stdout };
}

/** A seeded generator (hpcdl's own), so a failing case can be reproduced. */
function rng(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.uniform();
}

function generatedList(r: () => number): string {
  const pick = <T>(xs: T[]): T => xs[Math.floor(r() * xs.length)];
  const number = (): string => {
    const n = Math.floor(r() * 120);
    return r() < 0.3 ? String(n).padStart(pick([2, 3, 4]), '0') : String(n);
  };
  const range = (): string => {
    const roll = r();
    if (roll < 0.04) return pick(['', 'x', '-1', '1-2-3', '1--2']); // refused
    if (roll < 0.08) return `${30 + Math.floor(r() * 9)}-${Math.floor(r() * 29)}`; // backwards: refused
    const lo = number();
    return r() < 0.5 ? lo : `${lo}-${Number(lo) + Math.floor(r() * 12)}`;
  };
  const entry = (): string => {
    let text = pick(['nid', 'a', 'n', 'c1n', 'login', 'x-', 'gpu0', '']);
    const groups = pick([0, 1, 1, 1, 2, 2, 3]);
    for (let g = 0; g < groups; g++) {
      text += `[${Array.from({ length: 1 + Math.floor(r() * 3) }, range).join(',')}]`;
      if (g < groups - 1 || r() < 0.06) text += pick(['c', 'b', '-ib', 's']); // text after the last group is refused
    }
    if (text === '') text = 'node';
    return text;
  };
  return Array.from({ length: 1 + Math.floor(r() * 3) }, entry).join(pick([',', ',', ' ', ',,']));
}

test('hostnames: the library expands 400 generated hostlists exactly as scontrol show hostnames, and refuses the ones it refuses', { skip: noScontrol }, () => {
  const env = scontrolEnv();
  const r = rng(17);
  let refused = 0;
  const fixed = ['nid[001-003,007],login1', 'n[1-2]c[1-2]', 'a[8-10]', 'a[09-11]', 'a[9-011]', 'a[1-2][3-4]', 'a[1-2] b', 'a[1-]', 'a[1,1]', '[1-2]', 'a-[1-2]', 'login[1-2]-ib', 'a[3-1]', 'a[]', 'a[x]'];
  const cases = [...fixed, ...Array.from({ length: 400 }, () => generatedList(r))];
  for (const list of cases) {
    const expected = scontrol(env, 'hostnames', list);
    let ours: string[] | null;
    try {
      ours = expandHostlist(list);
    } catch {
      ours = null;
    }
    assert.deepEqual(ours, expected.hosts, `hostlist ${JSON.stringify(list)}: scontrol says ${expected.out.trim()}`);
    if (expected.hosts === null) refused++;
  }
  // the generator must exercise both sides
  assert.ok(refused >= 20 && refused <= cases.length - 200, `${refused} of ${cases.length} refused`);
});

test('hostlist: compression matches scontrol show hostlist on 300 generated host sequences, and expands back', { skip: noScontrol }, () => {
  const env = scontrolEnv();
  const r = rng(5);
  for (let i = 0; i < 300; i++) {
    const prefix = ['nid', 'a', 'n1c', 'x-', ''][Math.floor(r() * 5)];
    const width = [1, 1, 2, 3][Math.floor(r() * 4)];
    let n = Math.floor(r() * 20);
    const hosts: string[] = [];
    for (let k = 0; k < 1 + Math.floor(r() * 12); k++) {
      n += r() < 0.7 ? 1 : Math.floor(r() * 5);
      const p = r() < 0.15 ? ['b', 'login', 'nid'][Math.floor(r() * 3)] : prefix;
      hosts.push(`${p}${r() < 0.1 ? '' : String(n).padStart(width, '0')}` || 'node');
    }
    const expected = scontrol(env, 'hostlist', hosts.join(','));
    assert.ok(expected.hosts, expected.out);
    const ours = compressHostlist(hosts);
    assert.equal(ours, expected.hosts.join(','), `hosts ${hosts.join(',')}`);
    assert.deepEqual(expandHostlist(ours), hosts);
  }
});

test('hpcdl slurm hostnames / hostlist print what scontrol prints; a refused list is one line, exit 2', async () => {
  const names = await hpcdl(['slurm', 'hostnames', 'nid[001-002],n[1-2]c[8-10]']);
  assert.equal(names.code, 0, names.stderr);
  assert.deepEqual(names.stdout.trim().split('\n'), ['nid001', 'nid002', 'n1c8', 'n1c9', 'n1c10', 'n2c8', 'n2c9', 'n2c10']);
  const list = await hpcdl(['slurm', 'hostlist', 'nid001', 'nid002,nid003', 'login1']);
  assert.equal(list.stdout.trim(), 'nid[001-003],login1');
  const bad = await hpcdl(['slurm', 'hostnames', 'login[1-2]-ib']);
  assert.equal(bad.code, 2);
  assert.match(oneLine(bad.stderr), /^hpcdl slurm hostnames: error: invalid hostlist "login\[1-2\]-ib": text "-ib" after the last bracket group/);
  const help = await hpcdl(['slurm', '--help']);
  assert.match(help.stdout, /hostnames[\s\S]*hostlist[\s\S]*env/);
});

test('hpcdl slurm env: the allocation from the environment; outside one a one-line error, exit 1', async () => {
  const outside = { ...process.env };
  for (const k of Object.keys(outside)) if (k.startsWith('SLURM_')) delete outside[k];
  const none = await hpcdl(['slurm', 'env'], { env: outside });
  assert.equal(none.code, 1);
  assert.match(oneLine(none.stderr), /needs a Slurm allocation \(SLURM_JOB_ID is not set\)/);
  const inside = await hpcdl(['slurm', 'env', '--json'], {
    env: { ...outside, SLURM_JOB_ID: '77', SLURM_JOB_NODELIST: 'nid[007-008]', SLURM_NTASKS: '4', SLURM_PROCID: '3', SLURM_LOCALID: '1', SLURM_CPUS_PER_TASK: '8', SLURM_JOB_GPUS: '0,1' },
  });
  assert.equal(inside.code, 0, inside.stderr);
  assert.deepEqual(JSON.parse(inside.stdout), { jobId: '77', nodeList: 'nid[007-008]', nodes: ['nid007', 'nid008'], ntasks: 4, procId: 3, localId: 1, cpusPerTask: 8, gpus: ['0', '1'] });
});

test('an engine in an srun step is pinned to its share: its GPU, else its cores as gradient threads', () => {
  const base = { SLURM_JOB_ID: '9', SLURM_JOB_NODELIST: 'n1', SLURM_NTASKS: '4', SLURM_STEP_ID: '0', SLURM_STEP_TASKS_PER_NODE: '4' };
  const gpuEnv: NodeJS.ProcessEnv = { ...base, SLURM_PROCID: '2', SLURM_LOCALID: '2', CUDA_VISIBLE_DEVICES: '0,1,2,3' };
  assert.deepEqual(pinToSlurmShare(gpuEnv, 64), { CUDA_VISIBLE_DEVICES: '2' });
  assert.equal(gpuEnv.CUDA_VISIBLE_DEVICES, '2');
  const cpuEnv: NodeJS.ProcessEnv = { ...base, SLURM_PROCID: '1', SLURM_LOCALID: '1' };
  assert.deepEqual(pinToSlurmShare(cpuEnv, 64), { HPCDL_TRAIN_THREADS: '16', OMP_NUM_THREADS: '16' });
  const userSet: NodeJS.ProcessEnv = { ...base, SLURM_PROCID: '1', SLURM_LOCALID: '1', SLURM_CPUS_PER_TASK: '6', HPCDL_TRAIN_THREADS: '3' };
  assert.deepEqual(pinToSlurmShare(userSet, 64), { OMP_NUM_THREADS: '6' });
  assert.equal(userSet.HPCDL_TRAIN_THREADS, '3');
  assert.deepEqual(pinToSlurmShare({ SLURM_LOCALID: '0' }, 64), {}, 'outside an allocation nothing changes');
  assert.deepEqual(engineShareEnv(slurmAllocation('x', { SLURM_JOB_ID: '1', SLURM_CPUS_PER_TASK: '5' }), 0, 2, 64), { HPCDL_TRAIN_THREADS: '5', OMP_NUM_THREADS: '5' });
});

const noSlurm = slurmUnavailable();

test('interactive path on a real Slurm: a controller bound by --interface, engines from srun pinned to their cores, a client connecting by cluster id', { skip: noSlurm ?? false }, async () => {
  const cli = path.join(ROOT, 'dist', 'cli', 'index.js');
  assert.ok(fs.existsSync(cli), `${cli} missing (npm run build)`);
  const slurm = await startSlurm();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-interactive-'));
  const env = { ...process.env, ...slurm.env, HPCDL_HOME: profile };
  const controller = spawn(process.execPath, [cli, 'controller', '--interface', 'lo', '--cluster-id', 'job-interactive'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let engines: ReturnType<typeof spawn> | null = null;
  let cluster: Cluster | null = null;
  try {
    let controllerOut = '';
    controller.stdout!.on('data', (d) => (controllerOut += d));
    const deadline = Date.now() + 30_000;
    while (!/listening on ws:\/\/127\.0\.0\.1:\d+/.test(controllerOut) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.match(controllerOut, /listening on ws:\/\/127\.0\.0\.1:\d+/, 'the controller binds the address of --interface lo');
    engines = spawn('/usr/bin/srun', ['-n', '2', '-c', '2', process.execPath, cli, 'engine', '--connect', 'job-interactive'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let engineErr = '';
    engines.stderr!.on('data', (d) => (engineErr += d));
    cluster = await Cluster.connect('job-interactive', { profileDir: profile });
    await cluster.waitForEngines(2, 60_000);
    const seen = await cluster.all().apply(() => `${process.env.SLURM_PROCID} ${process.env.HPCDL_TRAIN_THREADS} ${process.env.OMP_NUM_THREADS}`);
    assert.deepEqual([...seen].sort(), ['0 2 2', '1 2 2'], 'each srun task runs one engine with its 2 cores as gradient threads');
    assert.match(engineErr, /Slurm task [01] \(local [01]\) on .*: HPCDL_TRAIN_THREADS=2 OMP_NUM_THREADS=2/);
  } finally {
    await cluster?.close();
    engines?.kill('SIGTERM');
    controller.kill('SIGTERM');
    await Promise.all([engines, controller].map((p) => (p && p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('exit', r)) : undefined)));
    await slurm.stop();
    fs.rmSync(profile, { recursive: true, force: true });
  }
});
