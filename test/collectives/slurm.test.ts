/**
 * `srun -n 2` on the project's private test Slurm (test/cluster/support/slurm.ts):
 * each task forms the group from SLURM_PROCID / SLURM_NTASKS / the node list /
 * SLURM_JOB_ID, rank 0 creates the per-job key file (0600) in the shared home
 * and the other waits for it, and they allreduce.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { slurmUnavailable, startSlurm, type Slurm } from '../cluster/support/slurm';
import { expandHostlist } from '../../cluster/collectives/slurm-hostlist';
import { createHash } from 'node:crypto';
import { intData } from './support/data';

const skip = slurmUnavailable();
let slurm: Slurm;
const home = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-home-'));

before(async () => {
  if (!skip) slurm = await startSlurm();
});

after(async () => {
  await slurm?.stop();
  fs.rmSync(home, { recursive: true, force: true });
});

test('srun -n 2: ranks form a group from the Slurm environment and allreduce', { skip: skip ?? false, timeout: 180_000 }, async () => {
  const script = path.join(__dirname, 'support', 'slurm-rank.ts');
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(
      '/usr/bin/srun',
      ['-n', '2', '--time=00:05:00', process.execPath, '--import', 'tsx', script],
      { env: { ...process.env, ...slurm.env, HOME: home, HPCDL_GROUP_HOST: '127.0.0.1', HPCDL_GROUP_KEY: '' }, cwd: path.join(__dirname, '..', '..'), timeout: 150_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`srun failed: ${err.message}\n${stdout}\n${stderr}`)) : resolve({ stdout, stderr })),
    ),
  );
  const lines = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { rank: number; size: number; groupId: string; sha256: string; head: number[]; who: { procid: string }[]; error?: string });
  assert.equal(lines.length, 2, `two tasks report:\n${stdout}\n${stderr}`);
  const expected = new Float32Array(1001);
  for (let r = 0; r < 2; r++) intData(r, 1001).forEach((v, i) => (expected[i] += v));
  lines.sort((a, b) => a.rank - b.rank);
  lines.forEach((l, r) => {
    assert.equal(l.error, undefined);
    assert.equal(l.rank, r);
    assert.equal(l.size, 2);
    assert.match(l.groupId, /^slurm-\d+\.\d+$/);
    assert.deepEqual(l.head, Array.from(expected.slice(0, 3)));
    assert.equal(l.sha256, createHash('sha256').update(Buffer.from(expected.buffer)).digest('hex'), 'the sum of all 1001 elements equals the serial reduction');
    assert.deepEqual(l.who.map((w) => w.procid), ['0', '1']);
  });
  const jobId = /^slurm-(\d+)\./.exec(lines[0].groupId)![1];
  const keyFile = path.join(home, '.hpcdl', 'jobs', `${jobId}.key`);
  assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600, 'the per-job key file is private');
});

test('hostlist expressions expand like scontrol show hostnames', () => {
  assert.deepEqual(expandHostlist('nid[001-003,007],login1'), ['nid001', 'nid002', 'nid003', 'nid007', 'login1']);
  assert.deepEqual(expandHostlist('vm'), ['vm']);
  assert.deepEqual(expandHostlist('a[8-10]'), ['a8', 'a9', 'a10']);
  assert.throws(() => expandHostlist('a[8-10]b'), /after the last bracket group/, 'scontrol 22.05 refuses a suffix (test/cli/slurm.test.ts compares with it)');
  assert.throws(() => expandHostlist('nid[3-1]'), /runs backwards/);
});
