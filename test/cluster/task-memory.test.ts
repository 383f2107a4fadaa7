/**
 * --task-memory-mb limits a task's whole memory (V8 heap, Buffers and
 * ArrayBuffers), not only its heap: real engine process, real allocations.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, RemoteTaskError } from '../../cluster';

const TASKS = path.join(__dirname, 'support', 'engine-tasks.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-mem-'));
let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ engines: 1, profileDir: dir, output: 'none', handleSigint: false, engineArgs: ['--task-memory-mb', '256'], log: () => undefined });
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function enginePid(): Promise<number> {
  return (await cluster.engines())[0].pid;
}

function assertOutOfMemory(err: unknown): true {
  assert.ok(err instanceof RemoteTaskError, String(err));
  assert.equal(err.ename, 'TaskOutOfMemory');
  assert.match(err.evalue, /used \d+ MB \(.*\), over the engine's task memory limit of 256 MB \(--task-memory-mb\); its worker was terminated/);
  return true;
}

test('twelve filled 256 MiB Buffers in a synchronous loop under a 256 MB limit: TaskOutOfMemory naming the limit, the engine survives', async () => {
  const pid = await enginePid();
  await assert.rejects(cluster.balanced({ engineLosses: 0 }).submit({ module: TASKS, export: 'fillBuffers' }, 12, 256), assertOutOfMemory);
  assert.equal(await enginePid(), pid, 'same engine process');
  assert.equal(await cluster.balanced().apply((x: number) => x * 2, 21), 42, 'the engine still serves');
});

test('Buffers allocated between awaits (reported by the worker, not resident) are counted too', async () => {
  const pid = await enginePid();
  await assert.rejects(cluster.balanced({ engineLosses: 0 }).submit({ module: TASKS, export: 'allocateBuffersSlowly' }, 12, 64), assertOutOfMemory);
  assert.equal(await enginePid(), pid, 'same engine process');
});

test('a task within the limit is left alone', async () => {
  assert.equal(await cluster.balanced().submit({ module: TASKS, export: 'fillBuffers' }, 2, 64), 2);
});
