/**
 * Controller failures and hostile input, against real processes: `hpcdl
 * controller` and `hpcdl engine` run as child processes; the client is the
 * real cluster client (Cluster.connect) or a bare protocol client where the
 * test needs to send bytes no real client would.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import WebSocket from 'ws';
import { Cluster } from '../../cluster';
import { CLOSE_CODES, PROTOCOL_VERSION, describeClose, encodeMessage, generateKey, makeMessage, readConnectionFile } from '../../cluster/protocol';
import { LightClient } from '../../bench/support/cluster-peers';
import { tempDir } from './support/controller-harness';
import { runCounts } from './support/engine-tasks';
import { removeDir, startController, startEngine, waitFor, type Proc } from './support/processes';

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.kill('SIGTERM')));
}

async function api(file: string, route: string): Promise<any> {
  const info = readConnectionFile(file);
  return fetch(info.dashboard_url.replace('/?', `${route}?`)).then((r) => r.json());
}

test('controller SIGKILLed mid-map: --resume replays the journal, engines and client reconnect, every result exactly once', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  let cluster: Cluster | null = null;
  try {
    const first = await startController(dir, 'crash');
    procs.push(first.proc);
    const engines = [startEngine(first.file), startEngine(first.file)];
    procs.push(...engines);
    const logs: string[] = [];
    cluster = await Cluster.connect(first.file, { profileDir: dir, log: (l) => logs.push(l), output: 'drop' as any, handleSigint: false });
    await cluster.waitForEngines(2, 30000);
    const idsBefore = [...cluster.engineIds].sort();
    const n = 120;
    // each task appends its item to a file as it starts: executions are counted on the engines
    const runs = `${dir}/runs.txt`;
    fs.writeFileSync(runs, '');
    const handle = cluster.balanced().map(async (item: [string, number]) => {
      const [file, i] = item;
      require('node:fs').appendFileSync(file, `${i}\n`);
      await new Promise((r) => setTimeout(r, 40));
      return i * i;
    }, Array.from({ length: n }, (_, i) => [runs, i]));
    await waitFor(() => handle.progress.done >= 20, 30000, '20 results before the crash');
    const finishedBefore = handle.tasks.filter((t) => t.isDone).map((t) => t.taskId);

    first.proc.child.kill('SIGKILL');
    await first.proc.exited;
    assert.ok(handle.progress.done < n, 'the map was still in flight when the controller died');

    const second = await startController(dir, 'crash', ['--resume']);
    procs.push(second.proc);
    assert.match(second.proc.output(), /resumed from .*journal/);
    assert.equal(readConnectionFile(second.file).url, readConnectionFile(first.file).url, 'same url: engines and clients find it again');

    const values = await handle;
    assert.deepEqual(values, Array.from({ length: n }, (_, i) => i * i));
    const counts = runCounts(runs);
    const notOnce = Array.from({ length: n }, (_, i) => i).filter((i) => counts.get(i) !== 1);
    assert.deepEqual(notOnce.map((i) => `${i}: ${counts.get(i) ?? 0} runs`), [], 'each task executed exactly once on the engines');

    // engines came back with their ids, nothing was lost or doubled on the controller side
    await waitFor(() => cluster!.engineIds.length === 2, 15000, 'engines re-registered');
    const status = await api(second.file, '/api/status');
    assert.equal(status.engines.alive, 2);
    assert.deepEqual((await api(second.file, '/api/engines')).filter((e: any) => e.state === 'alive').map((e: any) => e.engine_id).sort(), idsBefore);
    assert.equal(status.tasks.done, n, JSON.stringify(status.tasks));
    assert.equal(status.tasks.queued + status.tasks.running + status.tasks.waiting, 0);

    // results finished before the crash are still retrievable from the resumed controller
    const info = readConnectionFile(second.file);
    const probe = new LightClient(info.url, info.key);
    await probe.connect();
    const reply = await probe.request('result_request', { task_ids: finishedBefore }, 'result_reply');
    assert.deepEqual(reply.content, { pending: [], unknown: [] });
    await waitFor(() => probe.results.size === finishedBefore.length, 5000, 'results replayed');
    for (const id of finishedBefore) {
      const idx = handle.taskIds.indexOf(id);
      assert.equal(probe.results.get(id)!.value, idx * idx);
    }
    probe.close();
  } finally {
    await cluster?.close();
    await stopAll(procs);
    removeDir(dir);
  }
});

test('queued tasks survive a controller restart with no engine attached, and run once an engine joins', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  try {
    const first = await startController(dir, 'queued');
    procs.push(first.proc);
    const info = readConnectionFile(first.file);
    const submitter = new LightClient(info.url, info.key);
    await submitter.connect();
    const reply = await submitter.submit(Array.from({ length: 5 }, (_, i) => ({ task_id: `q${i}`, source: '(x) => x + 1', args: [i] })));
    assert.equal(reply.accepted.length, 5, 'submit_reply comes after the journal is on disk');
    submitter.close();
    first.proc.child.kill('SIGKILL');
    await first.proc.exited;
    const journal = fs.readFileSync(first.file.replace(/\.json$/, '.journal.jsonl'), 'utf8');
    assert.equal(journal.split('\n').filter((l) => l.includes('"r":"submit"')).length, 5);

    const second = await startController(dir, 'queued', ['--resume']);
    procs.push(second.proc);
    const later = new LightClient(info.url, info.key);
    await later.connect();
    const pending = await later.request('result_request', { task_ids: ['q0', 'q1', 'q2', 'q3', 'q4'] }, 'result_reply');
    assert.deepEqual(pending.content.pending, ['q0', 'q1', 'q2', 'q3', 'q4']);
    procs.push(startEngine(second.file));
    for (let i = 0; i < 5; i++) {
      const r = await later.result(`q${i}`, 60000);
      assert.equal(r.status, 'ok');
      assert.equal(r.value, i + 1);
    }
    later.close();
  } finally {
    await stopAll(procs);
    removeDir(dir);
  }
});

test('wrong key: the engine and the client get a clear refusal, the controller logs the peer address', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  try {
    const { proc, file } = await startController(dir, 'keys');
    procs.push(proc);
    const bad = `${dir}/bad-key.json`;
    fs.writeFileSync(bad, JSON.stringify({ ...readConnectionFile(file), key: generateKey() }), { mode: 0o600 });

    const engine = startEngine(bad);
    procs.push(engine);
    const code = await Promise.race([engine.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30000))]);
    assert.notEqual(code, 'still running', 'an engine with a bad key exits instead of hanging');
    assert.notEqual(code, 0);
    assert.match(engine.output(), /refused the connection: bad key/);

    await assert.rejects(
      Cluster.connect(bad, { log: () => {}, handleSigint: false }),
      (err: Error) => {
        assert.match(err.message, new RegExp(`controller at ${readConnectionFile(file).url.replace(/[.]/g, '\\.')} refused the connection: bad key`));
        return true;
      },
    );
    await waitFor(() => /refusing 127\.0\.0\.1:\d+: bad key/.test(proc.output()), 5000, 'refusal logged with address', proc.output);
    const status = await api(file, '/api/status');
    assert.equal(status.engines.alive, 0);
    assert.ok(status.bad_messages >= 2);
  } finally {
    await stopAll(procs);
    removeDir(dir);
  }
});

test('bad signature, tampered, malformed, text and unknown-type messages are dropped and logged; the connection keeps working', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  try {
    const { proc, file } = await startController(dir, 'hostile');
    procs.push(proc);
    procs.push(startEngine(file));
    const info = readConnectionFile(file);
    const client = new LightClient(info.url, info.key);
    await client.connect();
    await waitFor(() => /engine 0 registered/.test(proc.output()), 30000, 'engine registered', proc.output);

    const wrongKey = encodeMessage(makeMessage('submit_request', { tasks: [] }), generateKey());
    const tampered = encodeMessage(makeMessage('submit_request', { tasks: [] }), info.key);
    tampered[tampered.length - 3] ^= 1;
    const unsigned = encodeMessage(makeMessage('engines_request', {}), info.key);
    unsigned.fill(0, 8, 40);
    // Signed with the connection's own key (a peer that holds the key), so they pass the signature and fail later checks.
    const unknownType = { ...makeMessage('engines_request', {}), header: { ...makeMessage('engines_request', {}).header, msg_type: 'rm_rf' as any } };
    const oldVersion = { ...makeMessage('engines_request', {}), header: { ...makeMessage('engines_request', {}).header, version: '0.9' } };
    for (const frame of [wrongKey, tampered, unsigned, Buffer.from('garbage that is not a message at all')]) client.sendRaw(frame);
    client.sendSigned(unknownType);
    client.sendSigned(oldVersion);
    client.sendRaw('{"header": "text frames are not protocol messages"}');

    await waitFor(() => (proc.output().match(/dropped message from 127\.0\.0\.1:\d+/g) ?? []).length >= 7, 10000, '7 drops logged', proc.output);
    const out = proc.output();
    for (const reason of ['(signature)', '(malformed)', '(unknown_type)', '(version)']) assert.ok(out.includes(reason), `log mentions ${reason}`);
    assert.match(out, /not signed/);
    assert.match(out, /rm_rf/);

    const status = await api(file, '/api/status');
    assert.equal(status.bad_messages, 7);
    assert.equal(client.closeInfo, null, 'an authenticated peer is not disconnected for a bad message');
    await client.submit([{ task_id: 'still-works', source: '() => 42' }]);
    assert.equal((await client.result('still-works', 30000)).value, 42);
    client.close();
  } finally {
    await stopAll(procs);
    removeDir(dir);
  }
});

test('a first message with an incompatible protocol version is refused with a version close code', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  try {
    const { proc, file } = await startController(dir, 'version');
    procs.push(proc);
    const info = readConnectionFile(file);
    const ws = new WebSocket(info.url);
    await new Promise((r) => ws.once('open', r));
    const base = makeMessage('connect_request', { client_session: 'old' });
    ws.send(encodeMessage({ ...base, header: { ...base.header, version: '9.0' } }, info.key));
    const [code, reason] = await new Promise<[number, string]>((r) => ws.once('close', (c, why) => r([c, why.toString()])));
    assert.equal(code, CLOSE_CODES.versionMismatch);
    assert.match(describeClose(info.url, code, reason), new RegExp(`protocol version mismatch .*9\\.0.*${PROTOCOL_VERSION.replace('.', '\\.')}`));
  } finally {
    await stopAll(procs);
    removeDir(dir);
  }
});
