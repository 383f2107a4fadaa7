/**
 * Groups of real engines (Cluster.start, engine processes): the client submits
 * rank 0's group task, learns its address from `report({ rendezvous })`,
 * submits rank 1 with `master`; the user's function reaches the group through
 * `taskContext().group`. A SIGKILLed engine fails the other rank's task within
 * 5 s naming the rank, its pid, host and engine id.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, type TaskHandle } from '../../cluster';
import type { GroupTaskArgs } from '../../cluster/collectives/group-task';

const GROUP_TASK = { module: path.join(__dirname, '..', '..', 'cluster', 'collectives', 'group-task.ts'), export: 'runInGroup' };
const USER = path.join(__dirname, 'support', 'group-user-task.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ engines: 2, profileDir: dir, ip: '127.0.0.1', output: 'none', log: () => undefined });
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** rank 0 first; once it reports its address, the other ranks with `master` */
async function startGroupTasks<T>(engines: number[], exportName: string, args: unknown[]): Promise<TaskHandle<T>[]> {
  const groupId = `engines-${randomBytes(4).toString('hex')}`;
  const key = randomBytes(32).toString('hex');
  const spec = (rank: number, master?: string): GroupTaskArgs => ({ group: { groupId, rank, size: engines.length, key, master, host: '127.0.0.1', timeoutMs: 30_000 }, target: { module: USER, export: exportName }, args });
  const zero = cluster.engine(engines[0]).apply<T>(GROUP_TASK, spec(0));
  const master = await new Promise<string>((resolve, reject) => {
    zero.onReport((d) => typeof d.rendezvous === 'string' && resolve(d.rendezvous));
    zero.then(() => reject(new Error('rank 0 finished before reporting its address')), reject);
  });
  return [zero, ...engines.slice(1).map((e, i) => cluster.engine(e).apply<T>(GROUP_TASK, spec(i + 1, master)))];
}

test('engines form a group through the client and allreduce via taskContext().group', { timeout: 120_000 }, async () => {
  const handles = await startGroupTasks<{ rank: number; size: number; values: number[]; engineId: number; same: boolean }>(cluster.engineIds, 'sumRanks', [1001]);
  const results = await Promise.all(handles);
  results.forEach((r, rank) => {
    assert.equal(r.rank, rank);
    assert.equal(r.size, 2);
    assert.deepEqual(r.values, [3, 3, 3], 'rank 0 contributes 1s, rank 1 2s');
    assert.equal(r.engineId, cluster.engineIds[rank]);
    assert.ok(r.same, 'taskContext().group is currentGroup()');
  });
});

test('a SIGKILLed engine fails the other rank within 5 s naming rank, pid, host and engine id', { timeout: 120_000 }, async () => {
  const engines = await cluster.engines();
  const ids = cluster.engineIds.slice(0, 2);
  const victim = engines.find((e) => e.engine_id === ids[1])!;
  const handles = await startGroupTasks<string>(ids, 'allreduceUntilFailure', []);
  await new Promise<void>((resolve) => handles[0].onStdout(() => resolve()));
  const t0 = Date.now();
  process.kill(victim.pid, 'SIGKILL');
  await assert.rejects(handles[0], (err: Error) => {
    assert.ok(Date.now() - t0 < 5000, `failed after ${Date.now() - t0} ms`);
    assert.match(err.message, new RegExp(`rank 1 \\(pid ${victim.pid} on ${os.hostname()}, engine ${victim.engine_id}\\)`));
    return true;
  });
  handles[1].catch(() => undefined);
});
