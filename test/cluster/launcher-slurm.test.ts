/**
 * Engines launched through a real Slurm (private slurmctld + slurmd + munged on
 * this machine): sbatch from outside an allocation, srun inside one, and the
 * replacement of a killed engine by the launcher that started it.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, SbatchLauncher, type ReplacementEvent } from '../../cluster';
import { slurmUnavailable, startSlurm, type Slurm } from './support/slurm';

const TASKS = path.join(__dirname, 'support', 'engine-tasks.ts');
const skip = slurmUnavailable();
let slurm: Slurm;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));

before(async () => {
  if (!skip) slurm = await startSlurm();
});

after(async () => {
  await slurm?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('sbatch launcher: a batch job of engines registers, runs tasks, replaces a killed engine, and is scancelled on close', { skip: skip ?? false }, async () => {
  const logs: string[] = [];
  const launcher = new SbatchLauncher({ env: slurm.env, timeLimit: '00:10:00' });
  const cluster = await Cluster.start({ engines: 2, launcher, ip: '127.0.0.1', profileDir: dir, output: 'none', log: (l) => logs.push(l), handleSigint: false, startTimeoutMs: 90_000 });
  try {
    const script = fs.readFileSync(fs.readdirSync(path.join(dir, 'clusters', cluster.clusterId)).map((f) => path.join(dir, 'clusters', cluster.clusterId, f)).find((f) => f.endsWith('.sbatch'))!, 'utf8');
    assert.match(script, /#SBATCH --ntasks=2/);
    assert.match(script, /#SBATCH --time=00:10:00/);
    assert.match(script, /\nsrun .*child-entry\.ts engine --connect \S+\.json --slots 1/);
    const engines = await cluster.engines();
    assert.equal(engines.length, 2);
    for (const e of engines) {
      assert.equal(e.labels.slurm_job_id, launcher.jobIds[0]);
      assert.ok(['0', '1'].includes(e.labels.slurm_procid));
    }
    assert.deepEqual(slurm.squeue().map((l) => l.split(' ')[2]), ['RUNNING']);
    const who = (await cluster.all().apply({ module: TASKS, export: 'whoAmI' })) as { engineId: number }[];
    assert.deepEqual(who.map((w) => w.engineId), cluster.engineIds);

    const replaced = new Promise<ReplacementEvent>((resolve) => cluster.onReplacement(resolve));
    process.kill(engines[1].pid, 'SIGKILL');
    const event = await replaced;
    assert.equal(event.replaced, true);
    assert.equal(event.launchSlot, Number(engines[1].labels.slurm_procid));
    assert.equal(launcher.jobIds.length, 2, 'the replacement is a second (one-engine) job');
    await cluster.waitForEngines(2, 90_000);
    assert.match(logs.join('\n'), /sbatch engine \d died \(engine \d+ on .* died.*\); starting a replacement \(1\/3\)/);
    assert.deepEqual(await cluster.all().apply(() => 'ok'), ['ok', 'ok']);
  } finally {
    await cluster.close();
  }
  await waitFor(() => slurm.squeue().length === 0, 30_000, 'the engine jobs to leave the queue');
});

test('srun launcher inside an allocation (salloc): engines as a job step, replacement as another step, nothing left after close', { skip: skip ?? false }, async () => {
  const child = spawn('salloc', ['-n', '2', '--time=00:10:00', process.execPath, '--import', 'tsx', path.join(__dirname, 'support', 'srun-client.ts'), dir], {
    env: { ...process.env, ...slurm.env },
    cwd: path.join(__dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  const steps = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  const byStep = (name: string) => steps.find((s) => s.step === name);
  assert.equal(code, 0, `srun client failed:\n${out}\n${err}`);
  const registered = byStep('registered');
  assert.equal(registered.engines.length, 2);
  for (const e of registered.engines) assert.ok(e.labels.slurm_job_id && e.labels.slurm_step_id !== undefined);
  assert.equal(byStep('ran').results.length, 2);
  assert.equal(byStep('replacement').event.replaced, true);
  assert.equal(byStep('replaced').alive.length, 2);
  assert.ok(byStep('replaced').alive.some((e: { labels: Record<string, string> }) => e.labels.launch_slot !== undefined), 'the replacement carries its launch slot');
  assert.deepEqual(byStep('ran-again').results, ['ok', 'ok']);
  assert.ok(byStep('closed'));
  const pids = [...registered.engines, ...byStep('replaced').alive].map((e: { pid: number }) => e.pid);
  await waitFor(() => pids.every((pid) => { try { process.kill(pid, 0); return false; } catch { return true; } }), 15_000, 'engine processes to exit');
});

test('sbatch launcher with enginesPerJob splits the engines over several jobs, each engine with its own launch slot', { skip: skip ?? false }, async () => {
  const launcher = new SbatchLauncher({ env: slurm.env, enginesPerJob: 1 });
  const cluster = await Cluster.start({ engines: 2, launcher, ip: '127.0.0.1', profileDir: dir, output: 'none', log: () => undefined, handleSigint: false, startTimeoutMs: 90_000 });
  try {
    assert.equal(launcher.jobIds.length, 2);
    const engines = await cluster.engines();
    assert.deepEqual(new Set(engines.map((e) => e.labels.slurm_job_id)), new Set(launcher.jobIds));
    const slots = engines.map((e) => Number(e.labels.launch_slot ?? e.labels.slurm_procid)).sort();
    assert.deepEqual(slots, [0, 1]);
    assert.deepEqual(await cluster.all().apply((x: number) => x + 1, 1), [2, 2]);
  } finally {
    await cluster.close();
  }
  await waitFor(() => slurm.squeue().length === 0, 30_000, 'the engine jobs to leave the queue');
});
