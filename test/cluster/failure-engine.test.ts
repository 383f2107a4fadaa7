/**
 * Engine failures against real processes: SIGKILL mid-task (detection, retry or
 * failure naming the engine, replacement by the launcher), cancel of a running
 * task, a crashing task, and interrupting a client process.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, RemoteTaskError, type ReplacementEvent, type TaskHandle } from '../../cluster';
import type { EngineEvent } from '../../cluster/protocol';
import { alive } from '../support/pids';

const TASKS = path.join(__dirname, 'support', 'engine-tasks.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
const logs: string[] = [];
let cluster: Cluster;
const events: { at: number; ev: EngineEvent }[] = [];
const replacements: ReplacementEvent[] = [];

before(async () => {
  cluster = await Cluster.start({ engines: 2, profileDir: dir, output: 'none', log: (l) => logs.push(l), maxReplacements: 3 });
  cluster.onEngineEvent((ev) => events.push({ at: Date.now(), ev }));
  cluster.onReplacement((r) => replacements.push(r));
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function untilRunning(handle: TaskHandle<unknown>): Promise<number> {
  const t0 = Date.now();
  while (handle.status !== 'running' && Date.now() - t0 < 15_000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(handle.status, 'running', `task ${handle.taskId} did not start`);
  return handle.engineId!;
}

async function pidOfEngine(engineId: number): Promise<number> {
  const e = (await cluster.engines()).find((x) => x.engine_id === engineId);
  assert.ok(e, `engine ${engineId} is known`);
  return e.pid;
}

async function killEngineRunning(handle: TaskHandle<unknown>): Promise<{ engineId: number; killedAt: number }> {
  const engineId = await untilRunning(handle);
  const pid = await pidOfEngine(engineId);
  const killedAt = Date.now();
  process.kill(pid, 'SIGKILL');
  return { engineId, killedAt };
}

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('SIGKILL of an engine mid-task: detected within 3 s, the task is retried elsewhere, the launcher replaces the engine', async () => {
  const handle = cluster.balanced({ retries: 1 }).submit({ module: TASKS, export: 'sleepThenWhere' }, 2500);
  const { engineId, killedAt } = await killEngineRunning(handle);
  await waitFor(() => events.some((e) => e.ev.event === 'died' && e.ev.engine_id === engineId), 5000, `engine ${engineId} died event`);
  const died = events.find((e) => e.ev.event === 'died' && e.ev.engine_id === engineId)!;
  assert.ok(died.at - killedAt <= 3000, `detected after ${died.at - killedAt} ms`);
  const where = (await handle) as { engineId: number };
  assert.notEqual(where.engineId, engineId, 'retried on another engine');
  await waitFor(() => replacements.some((r) => r.replaced), 10_000, 'replacement');
  assert.match(logs.join('\n'), /local engine \d+ died \(engine process \d+ was killed by SIGKILL\); starting a replacement \(1\/3\)/);
  await cluster.waitForEngines(2, 30_000);
  assert.ok(!cluster.engineIds.includes(engineId));
});

test('with default options a SIGKILLed engine is not the task\'s fault: the task reruns elsewhere and the map resolves', async () => {
  const group = cluster.balanced().map({ module: TASKS, export: 'sleepThenWhere' }, [3000, 10, 10, 10]);
  const { engineId } = await killEngineRunning(group.tasks[0]);
  const results = (await group) as { engineId: number }[];
  assert.equal(results.length, 4);
  assert.notEqual(results[0].engineId, engineId, 'the lost task ran again on another engine');
  assert.equal(group.tasks[0].status, 'done');
  await waitFor(() => !cluster.engineIds.includes(engineId), 5000, `engine ${engineId} to be gone`);
  await cluster.waitForEngines(2, 30_000);
});

test('with engineLosses: 0 the task fails with EngineLost naming the dead engine and its host; nothing else is lost', async () => {
  const handles = [
    cluster.balanced({ engineLosses: 0 }).submit({ module: TASKS, export: 'sleepThenWhere' }, 3000),
    ...Array.from({ length: 6 }, (_, i) => cluster.balanced().apply((x: number) => x * 10, i)),
  ];
  const { engineId } = await killEngineRunning(handles[0]);
  await assert.rejects(handles[0], (err: unknown) => {
    assert.ok(err instanceof RemoteTaskError);
    assert.equal(err.ename, 'EngineLost');
    assert.match(err.message, new RegExp(`engine ${engineId} on ${os.hostname()} \\(pid \\d+\\)`));
    return true;
  });
  // every other task of the burst got exactly its result
  assert.deepEqual(await Promise.all(handles.slice(1)), [0, 10, 20, 30, 40, 50]);
  await waitFor(() => !cluster.engineIds.includes(engineId), 5000, `engine ${engineId} to be gone`);
  await cluster.waitForEngines(2, 30_000);
});

test('a task that crashes its thread (process.exit) leaves its engine up and serving', async () => {
  const target = cluster.engineIds[0];
  const before = (await cluster.engine(target).apply({ module: TASKS, export: 'whoAmI' })) as { pid: number };
  const replacedBefore = replacements.length;
  await assert.rejects(cluster.engine(target).submit({ module: TASKS, export: 'exitThread' }, 9), /TaskCrashed: task .* exit code 9/);
  const afterCrash = (await cluster.engine(target).apply({ module: TASKS, export: 'whoAmI' })) as { pid: number; engineId: number };
  assert.equal(afterCrash.pid, before.pid, 'same engine process');
  assert.equal(afterCrash.engineId, target);
  assert.equal(replacements.length, replacedBefore, 'no replacement was needed');
});

test('cancel of a running task terminates it on its engine, the engine stays', async () => {
  const handle = cluster.balanced().submit({ module: TASKS, export: 'spin' }, 120_000);
  const engineId = await untilRunning(handle);
  const pid = await pidOfEngine(engineId);
  await handle.cancel();
  await assert.rejects(handle, (err: unknown) => err instanceof RemoteTaskError && err.cancelled);
  const e = (await cluster.engines()).find((x) => x.engine_id === engineId)!;
  assert.equal(e.state, 'alive');
  assert.equal(e.pid, pid);
  assert.equal(await cluster.engine(engineId).apply(() => 'free'), 'free');
});

test('SIGINT in a client process cancels its remote running tasks', async () => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'support', 'interrupt-client.ts'), cluster.connectionFile, '2'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: path.join(__dirname, '..', '..'),
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    await waitFor(() => out.includes('READY'), 30_000, `the client to report READY (stderr: ${err})`);
    const busy = (await cluster.engines()).filter((e) => e.state === 'alive').reduce((n, e) => n + e.running, 0);
    assert.equal(busy, 2, 'both engines run the client tasks');
    child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.match(err, /interrupted; cancelling 2 remote task/);
    const t0 = Date.now();
    let running = busy;
    while (running > 0 && Date.now() - t0 < 5000) {
      running = (await cluster.engines()).filter((e) => e.state === 'alive').reduce((n, e) => n + e.running, 0);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(running, 0, 'no task left running after the interrupt');
    assert.deepEqual(await cluster.all().apply(() => 1), [1, 1]);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('interruptAll() cancels every outstanding task of this client (kernel hook)', async () => {
  const handles = Array.from({ length: 4 }, () => cluster.balanced().submit({ module: TASKS, export: 'spin' }, 120_000));
  await untilRunning(handles[0]);
  assert.equal(await cluster.interruptAll(), 4);
  const outcomes = await Promise.allSettled(handles);
  for (const o of outcomes) assert.ok(o.status === 'rejected' && (o.reason as RemoteTaskError).cancelled);
  assert.deepEqual(await cluster.all().apply(() => 2), [2, 2]);
});

test('a hung engine (SIGSTOP) is declared dead by heartbeat within 3 s, killed and replaced', async () => {
  const target = cluster.engineIds[0];
  const pid = await pidOfEngine(target);
  const stoppedAt = Date.now();
  process.kill(pid, 'SIGSTOP');
  try {
    await waitFor(() => events.some((e) => e.ev.event === 'died' && e.ev.engine_id === target), 6000, `engine ${target} died event`);
    const died = events.find((e) => e.ev.event === 'died' && e.ev.engine_id === target)!;
    assert.ok(died.at - stoppedAt <= 3000, `detected after ${died.at - stoppedAt} ms`);
    await waitFor(() => !alive(pid), 5000, `the hung engine process ${pid} to be killed`);
    await cluster.waitForEngines(2, 30_000);
    assert.match(logs.join('\n'), new RegExp(`the controller declared engine ${target} on .* died.*its process ${pid} was killed\\); starting a replacement`));
    assert.deepEqual(await cluster.all().apply(() => 3), [3, 3]);
  } finally {
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
});

