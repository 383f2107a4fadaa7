/**
 * Controller robustness against a real in-process controller and
 * protocol-speaking peers: malformed task results from an engine, client
 * sessions forgotten after their grace (and kept across a quick reconnect),
 * and the bounded stream/report history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeMessage, makeMessage } from '../../cluster/protocol';
import { RingBuffer } from '../../cluster/controller/ring-buffer';
import { LightClient, startHarness, until, type LightEngine } from './support/controller-harness';

const NEVER = '() => new Promise(() => {})';

/** Send one signed task_result with arbitrary (possibly malformed) content, as a faulty engine would. */
function sendResultContent(engine: LightEngine, key: string, content: Record<string, unknown>): void {
  void key;
  engine.sendSigned(makeMessage('task_result', content as never));
}

function sessionCount(status: Record<string, unknown>): number {
  return status.client_sessions as number;
}

test('a malformed result fails its task naming engine and host, logged with the peer address; nothing stays running', async () => {
  const h = await startHarness();
  try {
    const e = await h.engine({ host: 'node-bad' });
    const c = await h.client();
    const bad: [string, unknown][] = [
      ['index past the buffers', { $v: { $buf: 0, dtype: 'uint8', shape: [1] }, $b: [3] }],
      ['not a packed value', 'garbage'],
      ['index that is not an integer', { $v: null, $b: ['length'] }],
    ];
    for (const [i, [, value]] of bad.entries()) {
      const id = `bad${i}`;
      await c.submit([{ task_id: id, source: NEVER }]);
      await until(() => e.received.some((r) => r.task_id === id), 5000, `${id} sent to the engine`);
      sendResultContent(e, h.controller.key, { task_id: id, status: 'ok', value });
      const r = await c.result(id, 5000);
      assert.equal(r.status, 'error', JSON.stringify(r));
      assert.equal(r.error!.ename, 'BadResult');
      assert.match(r.error!.evalue, new RegExp(`engine ${e.engineId} \\(node-bad\\) sent a malformed result for task ${id}`));
      assert.equal(r.error!.engine_id, e.engineId);
      assert.equal(r.error!.host, 'node-bad');
      assert.equal(h.controller.taskInfo(id)!.state, 'error');
    }
    assert.equal(h.logs.filter((l) => /bad task_result for task bad\d from engine \d+ \(node-bad\) at 127\.0\.0\.1:\d+/.test(l)).length, bad.length, h.logs.join('\n'));
    const tasks = h.controller.status().tasks as Record<string, number>;
    assert.equal(tasks.running ?? 0, 0);
    assert.equal(tasks.error, bad.length);
    assert.equal(h.controller.engineSummaries()[0].running, 0, 'the engine holds no task in the controller');
  } finally {
    await h.close();
  }
});

test('a malformed result is retried on another engine when retries remain', async () => {
  const h = await startHarness();
  try {
    const faulty = await h.engine({ host: 'node-a' });
    const c = await h.client();
    const hangOnFaulty = `function () { return this.engineId === ${faulty.engineId} ? new Promise(() => {}) : 'second try'; }`;
    await c.submit([{ task_id: 'r', source: hangOnFaulty, retries: 1 }]);
    await until(() => faulty.received.some((r) => r.task_id === 'r'), 5000, 'task sent to the faulty engine');
    const good = await h.engine({ host: 'node-b' });
    sendResultContent(faulty, h.controller.key, { task_id: 'r', status: 'ok', value: { $v: 1, $b: [0] } });
    const r = await c.result('r', 5000);
    assert.equal(r.status, 'ok', JSON.stringify(r));
    assert.equal(r.value, 'second try');
    assert.equal(r.engine_id, good.engineId);
    assert.ok(h.logs.some((l) => /retrying task r .* away from engine \d+: BadResult/.test(l)), h.logs.join('\n'));
  } finally {
    await h.close();
  }
});

test('200 short-lived clients: sessions are forgotten after the grace, results stay retrievable by task id', async () => {
  const h = await startHarness({ clientGraceMs: 300 });
  try {
    await h.engine({ slots: 2 });
    const baseline = sessionCount(h.controller.status());
    const ids: string[] = [];
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 20 }, async (_, j) => {
          const id = `s${round}-${j}`;
          const c = new LightClient(h.controller.url, h.controller.key);
          await c.connect();
          await c.submit([{ task_id: id, source: '(x) => x * 2', args: [round * 20 + j] }]);
          assert.equal((await c.result(id)).value, (round * 20 + j) * 2);
          c.close();
          ids.push(id);
        }),
      );
    }
    assert.ok(sessionCount(h.controller.status()) > baseline, 'recently closed sessions are kept for the grace');
    await until(() => sessionCount(h.controller.status()) === baseline, 10000, 'session count back to baseline');
    assert.equal(h.controller.status().clients, 0);
    const later = await h.client();
    await later.request('result_request', { task_ids: ids }, 'result_reply');
    await until(() => later.results.size === ids.length, 5000, 'every result retrieved');
    for (const id of ids) {
      const [round, j] = id.slice(1).split('-').map(Number);
      assert.equal(later.results.get(id)!.value, (round * 20 + j) * 2);
    }
  } finally {
    await h.close();
  }
});

test('a client that reconnects within the grace keeps its subscriptions; one that comes back later starts afresh', async () => {
  const h = await startHarness({ clientGraceMs: 1500 });
  try {
    await h.engine();
    const owner = await h.client();
    const first = new LightClient(h.controller.url, h.controller.key, 'watcher');
    await first.connect();
    await first.request('subscribe_request', { topics: ['streams'] }, 'subscribe_reply');
    first.close();
    await until(() => h.controller.status().clients === 1, 5000, 'watcher disconnected');
    const again = await h.client('watcher');
    await owner.submit([{ task_id: 'talk', source: 'function () { this.print("hi\\n"); return 1; }' }]);
    await owner.result('talk');
    const s = await again.waitEvent((m) => m.header.msg_type === 'task_stream' && m.content.task_id === 'talk', 5000);
    assert.equal(s.content.text, 'hi\n');

    again.close();
    await until(() => sessionCount(h.controller.status()) === 1, 10000, 'watcher session forgotten after the grace');
    const fresh = await h.client('watcher');
    const sub = await fresh.request('subscribe_request', { topics: [] }, 'subscribe_reply');
    assert.deepEqual(sub.content.topics, [], 'a forgotten session has no subscriptions left');
  } finally {
    await h.close();
  }
});

test('event history is a bounded ring: the newest entries, oldest first', async () => {
  const ring = new RingBuffer<number>(3);
  for (let i = 0; i < 10; i++) ring.push(i);
  assert.deepEqual([...ring], [7, 8, 9]);
  assert.equal(ring.length, 3);
  const empty = new RingBuffer<number>(0);
  empty.push(1);
  assert.deepEqual([...empty], []);

  const h = await startHarness({ eventHistory: 3 });
  try {
    await h.engine();
    const owner = await h.client();
    await owner.submit([{ task_id: 'r', source: 'function () { for (let i = 0; i < 5; i++) this.report({ i }); return 1; }' }]);
    await owner.result('r');
    const late = await h.client();
    await late.request('subscribe_request', { topics: ['reports'], history: true }, 'subscribe_reply');
    await until(() => late.events.filter((m) => m.header.msg_type === 'task_report').length === 3, 5000, 'history replayed');
    await owner.request('status_request', {}, 'status_reply');
    assert.deepEqual(late.events.filter((m) => m.header.msg_type === 'task_report').map((m) => m.content.data.i), [2, 3, 4]);
  } finally {
    await h.close();
  }
});
