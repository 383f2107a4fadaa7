/** The client API against a real local cluster: controller + 2 engine processes started by Cluster.start. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, RemoteTaskError, TaskGroupError } from '../../cluster';
import { alive } from '../support/pids';
import { queryGpus } from '../../cluster/engine/resources';

const TASKS = path.join(__dirname, 'support', 'engine-tasks.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
const lines: string[] = [];
let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ engines: 2, profileDir: dir, output: (line) => lines.push(line), log: () => undefined });
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test('Cluster.start registers the engines and writes a 0600 connection file', async () => {
  assert.deepEqual(cluster.engineIds.length, 2);
  const mode = fs.statSync(cluster.connectionFile).mode & 0o777;
  assert.equal(mode, 0o600);
  const engines = await cluster.engines();
  assert.equal(engines.filter((e) => e.state === 'alive').length, 2);
  for (const e of engines) assert.equal(e.resources.cpus, os.cpus().length);
});

test('a quick cell sends the function source: apply((x) => x * 2, 21) is 42', async () => {
  const handle = cluster.balanced().apply((x: number) => x * 2, 21);
  assert.equal(await handle, 42);
  assert.equal(handle.status, 'done');
  assert.equal(handle.progress.done, 1);
  assert.ok(handle.engineId !== null && cluster.engineIds.includes(handle.engineId));
});

test('a module task: typed arrays both ways, reports and prefixed output stream live', async () => {
  lines.length = 0;
  const reports: number[] = [];
  const handle = cluster.balanced().submit<{ sum: number; scaled: Float32Array }>({ module: TASKS, export: 'trainLike' }, 3, new Float32Array([0.5, 1.5]));
  handle.onReport((data) => reports.push(data.epoch as number));
  const value = await handle;
  assert.equal(value.sum, 2);
  assert.ok(value.scaled instanceof Float32Array);
  assert.deepEqual([...value.scaled], [1, 3]);
  assert.deepEqual(reports, [0, 1, 2]);
  assert.equal(handle.stdout, 'epoch 0\nepoch 1\nepoch 2\n');
  const e = handle.engineId;
  assert.deepEqual(lines.filter((l) => l.startsWith('[stdout')), [`[stdout:${e}] epoch 0`, `[stdout:${e}] epoch 1`, `[stdout:${e}] epoch 2`]);
  assert.ok(lines.includes(`[stderr:${e}] done training`));
});

test('"path#export" strings name module tasks too', async () => {
  assert.equal(await cluster.balanced().submit(`${TASKS}#double`, 8), 16);
});

test('map keeps item order, imap yields as tasks complete, progress counts', async () => {
  const group = cluster.balanced().map((x: number) => x * x, [1, 2, 3, 4, 5, 6]);
  const seen: number[] = [];
  group.onProgress((p) => seen.push(p.done));
  assert.deepEqual(await group, [1, 4, 9, 16, 25, 36]);
  assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual({ done: group.progress.done, total: group.progress.total }, { done: 6, total: 6 });
  assert.equal(group.status, 'done');
  const order: { ms: number; engineId: number }[] = [];
  for await (const v of cluster.balanced().imap({ module: TASKS, export: 'sleepThenValue' }, [1500, 10])) order.push(v as { ms: number; engineId: number });
  assert.deepEqual(order.map((v) => v.ms), [10, 1500], 'completion order, not item order');
  assert.notEqual(order[0].engineId, order[1].engineId, 'two engines ran them side by side');
});

test('all() runs on each engine; engine(id) targets one; broadcast values are shared()', async () => {
  const pids = await cluster.all().apply({ module: TASKS, export: 'whoAmI' });
  assert.deepEqual(pids.map((p) => (p as { engineId: number }).engineId), cluster.engineIds);
  assert.notEqual((pids[0] as { pid: number }).pid, (pids[1] as { pid: number }).pid);
  const target = cluster.engineIds[1];
  const who = (await cluster.engine(target).apply({ module: TASKS, export: 'whoAmI' })) as { engineId: number };
  assert.equal(who.engineId, target);
  await cluster.all().broadcast('weights', new Float64Array([1, 2, 3]));
  const got = await cluster.all().apply({ module: TASKS, export: 'readShared' }, 'weights');
  for (const g of got) assert.deepEqual([...(g as Float64Array)], [1, 2, 3]);
});

test('a failing task rejects with the engine and host named; a group reports how many failed', async () => {
  await assert.rejects(cluster.balanced().submit({ module: TASKS, export: 'throwRange' }), (err: unknown) => {
    assert.ok(err instanceof RemoteTaskError);
    assert.equal(err.ename, 'RangeError');
    assert.match(err.message, /failed on engine \d+ \(host .+\): RangeError: value out of range/);
    return true;
  });
  const group = cluster.balanced().map((x: number) => { if (x === 2) throw new Error('two'); return x; }, [1, 2, 3]);
  await assert.rejects(group, (err: unknown) => err instanceof TaskGroupError && err.errors.length === 1 && /1 of 3 tasks failed/.test(err.message));
  const settled = await group.settledResults();
  assert.deepEqual(settled.map((s) => s.status), ['fulfilled', 'rejected', 'fulfilled']);
});

test('cancel() stops a running task on its engine; the engine takes the next task', async () => {
  const handle = cluster.balanced().submit({ module: TASKS, export: 'spin' }, 60_000);
  const t0 = Date.now();
  while (handle.status !== 'running' && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(handle.status, 'running');
  const engineId = handle.engineId!;
  await handle.cancel();
  await assert.rejects(handle, (err: unknown) => err instanceof RemoteTaskError && err.cancelled);
  assert.equal(handle.status, 'cancelled');
  assert.ok(Date.now() - t0 < 10_000);
  assert.equal(await cluster.engine(engineId).apply((x: number) => x + 1, 1), 2);
});

test('resource samples stream at about 1 Hz with per-core CPU and the GPUs nvidia-smi lists on this machine', async () => {
  const samples: { engineId: number | null; sample: Record<string, any> }[] = [];
  const stop = cluster.onResources((sample, engineId) => samples.push({ engineId, sample }));
  const t0 = Date.now();
  const perEngine = (): Map<number | null, number[]> => {
    const times = new Map<number | null, number[]>();
    for (const { engineId, sample } of samples) times.set(engineId, [...(times.get(engineId) ?? []), sample.time_ms]);
    return times;
  };
  // four samples from every engine take about 3 s at 1 Hz, and over 15 s at 0.2 Hz
  while ([...perEngine().values()].filter((t) => t.length >= 4).length < cluster.engineIds.length && Date.now() - t0 < 6000) await new Promise((r) => setTimeout(r, 100));
  stop();
  for (const [engineId, times] of perEngine()) {
    assert.ok(times.length >= 4, `engine ${engineId}: ${times.length} samples in ${Date.now() - t0} ms`);
    const gaps = times.slice(1).map((t, i) => t - times[i]).sort((a, b) => a - b);
    const median = gaps[Math.floor(gaps.length / 2)];
    assert.ok(median >= 700 && median <= 1500, `engine ${engineId}: median gap between samples ${median} ms (about 1 Hz expected)`);
  }
  const s = samples[samples.length - 1].sample;
  assert.equal(s.cpu.cores.length, os.cpus().length);
  // derived from the machine: none without nvidia-smi, every GPU of the node it lists on a GPU node
  assert.deepEqual(s.gpus.map((g: { index: number }) => g.index), (await queryGpus()).gpus.map((g) => g.index));
  assert.ok(s.memory.total_bytes > 0);
  assert.deepEqual(new Set(samples.map((x) => x.engineId)).size >= 1, true);
});

test('a second client joins with Cluster.connect(file) and by cluster id', async () => {
  const other = await Cluster.connect(cluster.connectionFile, { output: 'none', handleSigint: false });
  try {
    assert.equal(other.clusterId, cluster.clusterId);
    assert.equal(await other.balanced().apply(() => 'hello'), 'hello');
  } finally {
    await other.close();
  }
  const byId = await Cluster.connect(cluster.clusterId, { profileDir: dir, output: 'none', handleSigint: false });
  await byId.close();
});

test('a wrong key is refused with a clear message, an unreachable controller names its URL', async () => {
  const info = JSON.parse(fs.readFileSync(cluster.connectionFile, 'utf8'));
  const bad = path.join(dir, 'bad-key.json');
  fs.writeFileSync(bad, JSON.stringify({ ...info, key: 'not-the-key' }), { mode: 0o600 });
  await assert.rejects(Cluster.connect(bad, { handleSigint: false, log: () => undefined }), /refused the connection: bad key \(check the connection file\)/);
  const gone = path.join(dir, 'gone.json');
  fs.writeFileSync(gone, JSON.stringify({ ...info, url: 'ws://127.0.0.1:9' }), { mode: 0o600 });
  await assert.rejects(Cluster.connect(gone, { handleSigint: false, log: () => undefined, reconnectTimeoutMs: 1000 }), /ws:\/\/127\.0\.0\.1:9/);
});

test('close() of a started cluster stops its in-process controller and every engine; another client reaches it over WebSocket meanwhile', async () => {
  const small = await Cluster.start({ engines: 1, profileDir: dir, output: 'none', log: () => undefined, handleSigint: false });
  const pids = (await small.engines()).map((e) => e.pid);
  const info = JSON.parse(fs.readFileSync(small.connectionFile, 'utf8'));
  assert.equal(info.pid, process.pid, 'the default controller runs in the client process');
  assert.ok(pids.every(alive));
  const other = await Cluster.connect(small.connectionFile, { handleSigint: false, output: 'none', log: () => undefined });
  assert.equal(await other.balanced().apply((x: number) => x + 1, 41), 42);
  assert.deepEqual(other.engineIds, small.engineIds);
  await other.close();
  await small.close();
  assert.deepEqual(pids.filter(alive), []);
  assert.equal(fs.existsSync(small.connectionFile), false, 'connection file removed');
  const port = Number(new URL(info.url).port);
  const refused = await new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve('connected'));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  assert.equal(refused, 'ECONNREFUSED', 'the controller no longer listens');
});

test("close() of a started cluster with controller: 'process' stops the controller process and every engine", async () => {
  const small = await Cluster.start({ engines: 1, profileDir: dir, output: 'none', log: () => undefined, handleSigint: false, controller: 'process' });
  const pids = (await small.engines()).map((e) => e.pid);
  const controllerPid = JSON.parse(fs.readFileSync(small.connectionFile, 'utf8')).pid as number;
  assert.notEqual(controllerPid, process.pid);
  assert.ok(pids.every(alive) && alive(controllerPid));
  assert.equal(await small.balanced().apply((x: number) => x * 3, 14), 42);
  await small.close();
  assert.deepEqual([...pids, controllerPid].filter(alive), []);
});

test("a started controller process that dies fails the client's tasks at once, naming the exit, instead of reconnecting for minutes", async () => {
  const logs: string[] = [];
  const small = await Cluster.start({ engines: 1, profileDir: dir, output: 'none', log: (l) => logs.push(l), handleSigint: false, controller: 'process' });
  try {
    const controllerPid = JSON.parse(fs.readFileSync(small.connectionFile, 'utf8')).pid as number;
    const handle = small.balanced().submit({ module: TASKS, export: 'spin' }, 60_000);
    const t0 = Date.now();
    while (handle.status !== 'running' && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    process.kill(controllerPid, 'SIGKILL');
    const failedAt = Date.now();
    await assert.rejects(handle, (err: Error) => {
      assert.match(err.message, /the controller process exited \(SIGKILL\)/);
      return true;
    });
    assert.ok(Date.now() - failedAt < 5000, `took ${Date.now() - failedAt} ms`);
    assert.throws(() => small.balanced().submit(() => 1), /the controller process exited/);
  } finally {
    await small.close();
  }
});

test('Cluster.start names a bad controller placement', async () => {
  await assert.rejects(Cluster.start({ engines: 0, profileDir: dir, controller: 'thread' as never, log: () => undefined }), /controller must be 'in-process' or 'process', got "thread"/);
});

test('synchronous work blocking the in-process controller for longer than the engine timeout does not declare the engines dead', async () => {
  const events: string[] = [];
  const off = cluster.onEngineEvent((e) => events.push(`${e.event} ${e.engine_id}`));
  const before = [...cluster.engineIds];
  const until = Date.now() + 3500; // engine timeout 2.5 s; engines give up on a silent controller after 4.5 s
  while (Date.now() < until) {
    // a notebook cell doing synchronous work
  }
  const results = await cluster.balanced().map((x: number) => x * 2, [1, 2, 3, 4]);
  assert.deepEqual(results, [2, 4, 6, 8]);
  await new Promise((r) => setTimeout(r, 600)); // two more heartbeat checks
  off();
  assert.deepEqual(events, []);
  assert.deepEqual(cluster.engineIds, before);
});

test('local engines share the cores for training: each gets HPCDL_TRAIN_THREADS = cores / engines', async () => {
  const expected = String(Math.max(1, Math.floor(os.availableParallelism() / 2)));
  const seen = await cluster.all().apply(() => process.env.HPCDL_TRAIN_THREADS);
  assert.deepEqual(seen, [expected, expected]);
});

test('a kernel interrupt (the hpcdl kernel interrupt registry) cancels the running remote tasks of connected clients', async () => {
  const { runInterruptCallbacks } = await import('../../src/notebook-hooks');
  const handle = cluster.balanced().submit({ module: TASKS, export: 'spin' }, 120_000);
  const t0 = Date.now();
  while (handle.status !== 'running' && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
  assert.equal(handle.status, 'running');
  const outcome = await runInterruptCallbacks('test interrupt');
  assert.ok(outcome.ran >= 1);
  await assert.rejects(handle, (err: unknown) => err instanceof RemoteTaskError && err.cancelled);
});
