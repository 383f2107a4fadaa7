import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { readConnectionFile } from '../../cluster/protocol';
import { startHarness, until, sleep } from './support/controller-harness';

const ID = 'function () { return this.engineId; }';
const ADD = '(a, b) => a + b';
const NEVER = '() => new Promise(() => {})';

test('connection file is 0600 and holds url, cluster_id, key, pid; REST needs the token', async () => {
  const h = await startHarness({ clusterId: 'conn' });
  try {
    const file = h.controller.connectionFile;
    assert.ok(file.startsWith(h.dir), file);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const info = readConnectionFile('conn', h.dir);
    assert.equal(info.url, h.controller.url);
    assert.equal(info.cluster_id, 'conn');
    assert.equal(info.key, h.controller.key);
    assert.equal(info.pid, process.pid);
    await h.engine();
    const ok = await fetch(info.dashboard_url.replace('/?', '/api/status?')).then((r) => r.json());
    assert.equal(ok.cluster_id, 'conn');
    assert.equal(ok.engines.alive, 1);
    const engines = await fetch(info.dashboard_url.replace('/?', '/api/engines?')).then((r) => r.json());
    assert.equal(engines[0].engine_id, 0);
    const page = await fetch(info.dashboard_url).then((r) => r.text());
    assert.match(page, /hpcdl cluster/);
    const denied = await fetch(info.url.replace('ws:', 'http:') + '/api/status');
    assert.equal(denied.status, 403);
  } finally {
    await h.close();
  }
});

test('load-balanced map: every result once, correct, spread over both engines', async () => {
  const h = await startHarness();
  try {
    const e0 = await h.engine();
    const e1 = await h.engine();
    const c = await h.client();
    const n = 2000;
    const reply = await c.submit(Array.from({ length: n }, (_, i) => ({ task_id: `t${i}`, source: ADD, args: [i, 1] })));
    assert.equal(reply.accepted.length, n);
    await until(() => c.results.size === n, 20000, 'all results');
    for (let i = 0; i < n; i++) assert.equal(c.results.get(`t${i}`)!.value, i + 1);
    assert.equal(c.duplicates, 0);
    assert.equal(e0.done.length + e1.done.length, n);
    assert.ok(e0.done.length > 100 && e1.done.length > 100, `${e0.done.length} / ${e1.done.length}`);
    const status = h.controller.status() as any;
    assert.equal(status.tasks.done, n);
  } finally {
    await h.close();
  }
});

test('least load: with few tasks each engine gets one per slot', async () => {
  const h = await startHarness();
  try {
    const e0 = await h.engine({ slots: 2 });
    const e1 = await h.engine({ slots: 1 });
    const c = await h.client();
    await c.submit(Array.from({ length: 3 }, (_, i) => ({ task_id: `s${i}`, source: NEVER })));
    await until(() => e0.received.length + e1.received.length === 3, 5000, 'dispatch');
    assert.equal(e0.received.length, 2);
    assert.equal(e1.received.length, 1);
  } finally {
    await h.close();
  }
});

test('targets: a task pinned to one engine runs there; "all" runs once per engine', async () => {
  const h = await startHarness();
  try {
    const e0 = await h.engine();
    const e1 = await h.engine();
    const c = await h.client();
    const r = await c.submit([
      { task_id: 'pin', source: ID, targets: [e1.engineId] },
      { task_id: 'each', source: ID, targets: 'all' },
      { task_id: 'ghost', source: ID, targets: [99] },
    ]);
    assert.deepEqual(r.expanded.each, [`each@${e0.engineId}`, `each@${e1.engineId}`]);
    assert.equal(r.rejected[0].task_id, 'ghost');
    assert.match(r.rejected[0].reason, /99/);
    assert.equal((await c.result('pin')).value, e1.engineId);
    assert.equal((await c.result(`each@${e0.engineId}`)).value, e0.engineId);
    assert.equal((await c.result(`each@${e1.engineId}`)).value, e1.engineId);
  } finally {
    await h.close();
  }
});

test('resource requests: GPU tasks only go to GPU engines, one task per free GPU', async () => {
  const h = await startHarness();
  try {
    const cpuOnly = await h.engine({ slots: 4 });
    const gpu = await h.engine({ slots: 4, gpus: [{ index: 0, name: 'Fake', memory_bytes: 1e9 }, { index: 1, name: 'Fake', memory_bytes: 1e9 }] });
    const c = await h.client();
    await c.submit(Array.from({ length: 3 }, (_, i) => ({ task_id: `g${i}`, source: NEVER, resources: { gpus: 1 } })));
    await until(() => gpu.received.length === 2, 5000, 'two GPU tasks placed');
    await sleep(100);
    assert.equal(gpu.received.length, 2, 'third GPU task waits for a free GPU');
    assert.equal(cpuOnly.received.length, 0);
    assert.deepEqual(gpu.received.map((r) => r.gpus).sort(), [[0], [1]]);
    await c.request('cancel_request', { task_ids: ['g0'] }, 'cancel_reply');
    await until(() => gpu.received.length === 3, 5000, 'third GPU task after a GPU frees');
    assert.deepEqual(gpu.received[2].gpus, gpu.received.find((r) => r.task_id === 'g0')!.gpus);
    const big = await c.submit([{ task_id: 'mem', source: ID, resources: { memory_bytes: 2 ** 40 } }]);
    assert.deepEqual(big.accepted, ['mem']);
    const info = await fetch(h.controller.dashboardUrl.replace('/?', '/api/tasks/mem?')).then((r) => r.json());
    assert.equal(info.state, 'queued');
  } finally {
    await h.close();
  }
});

test('retries go to another engine (failing one blacklisted); exhausted retries name engine and host', async () => {
  const h = await startHarness();
  try {
    const e0 = await h.engine({ host: 'node-a' });
    await h.engine({ host: 'node-b' });
    const c = await h.client();
    const failOn0 = `function () { if (this.engineId === ${e0.engineId}) throw new Error('bad node'); return this.engineId; }`;
    await c.submit(Array.from({ length: 6 }, (_, i) => ({ task_id: `r${i}`, source: failOn0, retries: 1 })));
    for (let i = 0; i < 6; i++) {
      const r = await c.result(`r${i}`);
      assert.equal(r.status, 'ok', JSON.stringify(r));
      assert.notEqual(r.value, e0.engineId);
    }
    await c.submit([{ task_id: 'doomed', source: '() => { throw new TypeError("always") }', retries: 1 }]);
    const r = await c.result('doomed');
    assert.equal(r.status, 'error');
    assert.equal(r.error!.ename, 'TypeError');
    assert.match(r.error!.host!, /node-[ab]/);
    assert.equal(typeof r.error!.engine_id, 'number');
  } finally {
    await h.close();
  }
});

test('per-task timeout: a task that never ends fails with TimeoutError', async () => {
  const h = await startHarness({ timeoutGraceMs: 100 });
  try {
    await h.engine();
    const c = await h.client();
    await c.submit([{ task_id: 'slow', source: NEVER, timeout_ms: 200 }]);
    const r = await c.result('slow');
    assert.equal(r.status, 'error');
    assert.equal(r.error!.ename, 'TaskTimeout');
    assert.match(r.error!.evalue, /200 ms/);
  } finally {
    await h.close();
  }
});

test('dependencies: after= waits for its dependencies; a failed dependency fails the dependents', async () => {
  const h = await startHarness();
  try {
    await h.engine({ slots: 4 });
    const c = await h.client();
    const mark = '(name) => { globalThis.__order = (globalThis.__order || []).concat(name); return globalThis.__order.slice(); }';
    const slowMark = '(name) => new Promise((r) => setTimeout(() => { globalThis.__order = (globalThis.__order || []).concat(name); r(globalThis.__order.slice()); }, 100))';
    (globalThis as any).__order = [];
    await c.submit([
      { task_id: 'child', source: mark, args: ['child'], after: ['parent'] },
      { task_id: 'parent', source: slowMark, args: ['parent'] },
      { task_id: 'bad', source: '() => { throw new Error("x") }' },
      { task_id: 'orphan', source: mark, args: ['orphan'], after: ['bad'] },
    ]);
    const child = await c.result('child');
    assert.deepEqual((child.value as string[]).slice(-2), ['parent', 'child']);
    const orphan = await c.result('orphan');
    assert.equal(orphan.status, 'error');
    assert.equal(orphan.error!.ename, 'DependencyError');
    const r = await c.submit([{ task_id: 'lost', source: ID, after: ['nope'] }]);
    assert.match(r.rejected[0].reason, /unknown task nope/);
  } finally {
    await h.close();
  }
});

test('cancel: queued and running tasks end cancelled and the engine is told', async () => {
  const h = await startHarness({ prefetch: 0 });
  try {
    const e = await h.engine({ slots: 1 });
    const c = await h.client();
    await c.submit([{ task_id: 'run', source: NEVER }, { task_id: 'wait', source: NEVER }]);
    await until(() => e.received.length === 1, 5000, 'first task running');
    const reply = await c.request('cancel_request', { task_ids: ['run', 'wait', 'unknown'] }, 'cancel_reply');
    assert.deepEqual(reply.content.cancelled, ['run', 'wait']);
    assert.deepEqual(reply.content.unknown, ['unknown']);
    assert.equal((await c.result('run')).status, 'cancelled');
    assert.equal((await c.result('wait')).status, 'cancelled');
    await sleep(50);
    assert.deepEqual(e.received.map((r) => r.task_id), ['run'], 'the queued task was never sent');
    await c.submit([{ task_id: 'after-cancel', source: ID }]);
    assert.equal((await c.result('after-cancel')).status, 'ok', 'the slot came back');
  } finally {
    await h.close();
  }
});

test('streams and reports reach the owner and subscribers; resources fan out with bounded history', async () => {
  const h = await startHarness({ resourceHistory: 3 });
  try {
    const e = await h.engine();
    const owner = await h.client();
    const watcher = await h.client();
    await watcher.request('subscribe_request', { topics: ['reports', 'streams', 'resources', 'engines'] }, 'subscribe_reply');
    await owner.submit([{ task_id: 'talk', source: 'function () { this.print("hello\\n"); this.report({ epoch: 1, loss: 0.5 }); return 1; }' }]);
    await owner.result('talk');
    for (const c of [owner, watcher]) {
      const s = await c.waitEvent((m) => m.header.msg_type === 'task_stream');
      assert.deepEqual([s.content.text, s.content.name, s.content.engine_id], ['hello\n', 'stdout', e.engineId]);
      const r = await c.waitEvent((m) => m.header.msg_type === 'task_report');
      assert.deepEqual(r.content.data, { epoch: 1, loss: 0.5 });
    }
    for (let i = 0; i < 5; i++) e.sendResources({ cpu_percent: [i] });
    await until(() => watcher.events.filter((m) => m.header.msg_type === 'resources').length === 5, 5000, 'resources');
    assert.equal(owner.events.filter((m) => m.header.msg_type === 'resources').length, 0, 'not subscribed');
    const hist = await fetch(h.controller.dashboardUrl.replace('/?', `/api/resources/${e.engineId}?`)).then((r) => r.json());
    assert.deepEqual(hist.map((s: any) => s.cpu_percent[0]), [2, 3, 4]);
    const late = await h.client();
    await late.request('subscribe_request', { topics: ['reports'], history: true }, 'subscribe_reply');
    await late.waitEvent((m) => m.header.msg_type === 'task_report' && m.content.task_id === 'talk');
  } finally {
    await h.close();
  }
});

test('engine that drops its connection mid-task: rerun elsewhere by default, or fails naming engine and host once its engine losses are used up', async () => {
  const h = await startHarness({ prefetch: 0 });
  try {
    const victim = await h.engine({ host: 'victim-host', slots: 3 });
    const c = await h.client();
    await c.submit([
      { task_id: 'retry-me', source: NEVER, retries: 1, engine_losses: 0 },
      { task_id: 'no-retry', source: NEVER, engine_losses: 0 },
      { task_id: 'default', source: NEVER },
    ]);
    await until(() => victim.received.length === 3, 5000, 'all three on the victim');
    const survivor = await h.engine({ host: 'survivor', slots: 3 });
    victim.kill();
    const t0 = Date.now();
    await c.waitEvent((m) => m.header.msg_type === 'engine_event' && m.content.event === 'died');
    assert.ok(Date.now() - t0 < 3000);
    await until(() => survivor.received.some((r) => r.task_id === 'retry-me'), 5000, 'retry on survivor');
    await until(() => survivor.received.some((r) => r.task_id === 'default'), 5000, 'default task rerun on survivor');
    const r = await c.result('no-retry');
    assert.equal(r.status, 'error');
    assert.equal(r.error!.ename, 'EngineLost');
    assert.match(r.error!.evalue, new RegExp(`task no-retry was running on 1 engine\\(s\\) that died, more than the 0 engine loss\\(es\\) it allows: engine ${victim.engineId} on victim-host \\(pid \\d+\\): connection closed`));
    assert.equal(r.error!.host, 'victim-host');
    assert.ok(!c.results.has('retry-me'), 'the retried task is still running, not failed');
    assert.ok(!c.results.has('default'), 'the task lost with its engine is running again, not failed');
  } finally {
    await h.close();
  }
});

test('a hung engine (no heartbeats) is declared dead within 3 s', async () => {
  const h = await startHarness();
  try {
    const e = await h.engine();
    const c = await h.client();
    e.hang();
    const t0 = Date.now();
    const ev = await c.waitEvent((m) => m.header.msg_type === 'engine_event' && m.content.event === 'died', 5000);
    assert.ok(Date.now() - t0 <= 3000, `${Date.now() - t0} ms`);
    assert.match(ev.content.reason, /no heartbeat/);
  } finally {
    await h.close();
  }
});

test('result_request returns finished results again and reports pending/unknown ids', async () => {
  const h = await startHarness();
  try {
    await h.engine();
    const c = await h.client();
    await c.submit([{ task_id: 'a', source: '(xs) => xs.map((x) => x * 2)', args: [new Float32Array([1.5, 2.5])] }, { task_id: 'p', source: NEVER }]);
    await c.result('a');
    const other = await h.client();
    const reply = await other.request('result_request', { task_ids: ['a', 'p', 'zz'] }, 'result_reply');
    assert.deepEqual(reply.content, { pending: ['p'], unknown: ['zz'] });
    await until(() => other.results.has('a'), 2000, 'result a');
    const value = other.results.get('a')!.value as Float32Array;
    assert.ok(value instanceof Float32Array, 'typed arrays come back as typed arrays');
    assert.deepEqual(Array.from(value), [3, 5]);
  } finally {
    await h.close();
  }
});

test('tasks queued for a targeted engine fail with EngineError when that engine goes away', async () => {
  const h = await startHarness({ prefetch: 0 });
  try {
    const e = await h.engine({ host: 'pinned-host' });
    const c = await h.client();
    await c.submit([{ task_id: 'busy', source: NEVER, targets: [e.engineId] }, { task_id: 'behind', source: ID, targets: [e.engineId] }]);
    await until(() => e.received.length === 1, 5000, 'first task on the engine');
    e.kill();
    const r = await c.result('behind');
    assert.equal(r.status, 'error');
    assert.equal(r.error!.ename, 'EngineError');
    assert.match(r.error!.evalue, /targeted at engine 0, which is gone .*pinned-host/);
    assert.equal((await c.result('busy')).error!.ename, 'EngineError');
  } finally {
    await h.close();
  }
});

test('an engine that reconnects within the grace keeps its id and its running task; unstarted ones are re-sent', async () => {
  const h = await startHarness({ prefetch: 4 });
  try {
    const first = await h.engine({ host: 'flaky', slots: 1 });
    const c = await h.client();
    await c.submit([{ task_id: 'long', source: NEVER }, { task_id: 'next', source: ID }]);
    await until(() => first.received.length === 2, 5000, 'both sent (one prefetched)');
    first.kill();
    await sleep(100);
    const again = await h.engine({ host: 'flaky', slots: 1, engineUuid: first.uuid, running: ['long'] });
    assert.equal(again.engineId, first.engineId);
    assert.equal((await c.result('next')).value, first.engineId, 'the prefetched task ran after the reconnect');
    again.sendResult('long', 'finished after the blip');
    assert.equal((await c.result('long')).value, 'finished after the blip');
    await sleep(1200);
    assert.ok(!c.events.some((m) => m.header.msg_type === 'engine_event' && m.content.event === 'died'), 'no death was announced');
    assert.match(h.logs.join('\n'), /engine 0 \(host flaky\) reconnected .* still running 1 task/);
  } finally {
    await h.close();
  }
});

test('--keep-finished bounds memory: the oldest finished tasks are forgotten, newer ones stay retrievable', async () => {
  const h = await startHarness({ keepFinished: 10 });
  try {
    await h.engine();
    const c = await h.client();
    await c.submit(Array.from({ length: 30 }, (_, i) => ({ task_id: `k${i}`, source: ADD, args: [i, 0] })));
    await until(() => c.results.size === 30, 10000, 'all results');
    const status = h.controller.status() as any;
    assert.equal(status.tasks.total, 10);
    assert.equal(status.tasks.forgotten, 20);
    const other = await h.client();
    const reply = await other.request('result_request', { task_ids: ['k0', 'k29'] }, 'result_reply');
    assert.deepEqual(reply.content, { pending: [], unknown: ['k0'] });
    await until(() => other.results.get('k29')?.value === 29, 2000, 'k29 retrievable');
  } finally {
    await h.close();
  }
});
