/** Bad input to joinGroup / groupFromSlurmEnv / the collectives is refused with an error naming the field. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { groupFromSlurmEnv, joinGroup } from '../../cluster/collectives';
import { perJobKey, slurmMasterPort } from '../../cluster/collectives/slurm-env';

test('joinGroup names the field at fault', async () => {
  const ok = { groupId: 'g', rank: 0, size: 2, key: 'k' };
  await assert.rejects(joinGroup({ ...ok, groupId: '' }), /groupId must be a non-empty string/);
  await assert.rejects(joinGroup({ ...ok, size: 0 }), /size must be an integer >= 1, got 0/);
  await assert.rejects(joinGroup({ ...ok, rank: 2 }), /rank must be an integer in 0\.\.1, got 2/);
  await assert.rejects(joinGroup({ ...ok, key: '' }), /key must be a non-empty string/);
  await assert.rejects(joinGroup({ ...ok, master: 'nohost' }), /master: "nohost" is not "host:port"/);
  await assert.rejects(joinGroup({ ...ok, rank: 1 }), /rank 1 of group g needs `master`/);
});

test('collectives refuse bad arguments with the argument named, before anything goes on the wire', async () => {
  let master = '';
  const zero = joinGroup({ groupId: 'args', rank: 0, size: 2, key: 'k', host: '127.0.0.1', onListening: (a) => (master = a) });
  while (!master) await new Promise((r) => setTimeout(r, 10));
  const [g0, g1] = await Promise.all([zero, joinGroup({ groupId: 'args', rank: 1, size: 2, key: 'k', master, host: '127.0.0.1' })]);
  try {
    assert.throws(() => g0.allreduce([1, 2] as unknown as Float32Array), /allreduce expects a Float32Array, got Array/);
    assert.throws(() => g0.allreduce(new Float32Array(1), { op: 'max' as 'sum' }), /op must be 'sum' or 'mean', got "max"/);
    assert.throws(() => g0.allreduce(new Float32Array(1), { compression: 'int8' as 'fp16' }), /compression must be 'none' or 'fp16', got "int8"/);
    assert.throws(() => g0.allreduceMany([new Float32Array(1), new Float64Array(1) as unknown as Float32Array]), /allreduceMany: array 1 expects a Float32Array, got Float64Array/);
    assert.throws(() => g0.broadcast(new Float32Array(1), 2), /root 2 is not a rank of this group \(0\.\.1\)/);
    // the group is still usable: nothing was sent
    const [a, b] = await Promise.all([g0.allreduce(new Float32Array([1, 2])), g1.allreduce(new Float32Array([10, 20]))]);
    assert.deepEqual([...a, ...b], [11, 22, 11, 22]);
  } finally {
    await Promise.all([g0.close(), g1.close()]);
  }
});

test('groupFromSlurmEnv names the missing or malformed Slurm variable', async () => {
  await assert.rejects(groupFromSlurmEnv({ env: {} }), /SLURM_PROCID is not set; run under `srun -n N`/);
  await assert.rejects(groupFromSlurmEnv({ env: { SLURM_PROCID: 'x', SLURM_NTASKS: '2' } }), /SLURM_PROCID="x" is not an integer >= 0/);
  await assert.rejects(groupFromSlurmEnv({ env: { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_ID: '7' } }), /SLURM_STEP_NODELIST is not set/);
  assert.equal(slurmMasterPort({ SLURM_JOB_ID: '123456' }), 20000 + (123456 % 20000));
  assert.equal(slurmMasterPort({ SLURM_JOB_ID: '1', HPCDL_GROUP_PORT: '31000' }), 31000);
});

test('a per-job key file readable by others is refused', async () => {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-home-'));
  const saved = process.env.HOME;
  process.env.HOME = home;
  try {
    const key = await perJobKey('99', 0, Date.now() + 1000);
    assert.match(key, /^[0-9a-f]{64}$/);
    const file = path.join(home, '.hpcdl', 'jobs', '99.key');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(await perJobKey('99', 1, Date.now() + 1000), key, 'the other ranks read the same key');
    fs.chmodSync(file, 0o644);
    await assert.rejects(perJobKey('99', 1, Date.now() + 1000), /has mode 644; it must be readable by its owner only \(chmod 600\)/);
    await assert.rejects(perJobKey('100', 1, Date.now() + 300), /per-job key file .*100\.key did not appear \(rank 0 creates it/);
  } finally {
    process.env.HOME = saved;
    fs.rmSync(home, { recursive: true, force: true });
  }
});
