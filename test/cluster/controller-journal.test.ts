import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Journal } from '../../cluster/controller/journal';
import { startHarness, tempDir, until } from './support/controller-harness';

test('journal: appends are coalesced, durable() resolves after the write, a torn last line is skipped on replay', async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'j.jsonl');
    const j = new Journal(file, { truncate: true });
    for (let i = 0; i < 1000; i++) j.append({ r: 'submit', i });
    await j.durable();
    assert.equal(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean).length, 1000);
    j.append({ r: 'result', i: 0 });
    j.closeSync();
    fs.appendFileSync(file, '{"r":"result","i":1,"torn');
    const replay = Journal.replay(file);
    assert.equal(replay.records.length, 1001);
    assert.equal(replay.skipped.length, 1);
    assert.equal(replay.skipped[0].line, 1002);
    assert.deepEqual(Journal.replay(path.join(dir, 'missing.jsonl')), { records: [], skipped: [] });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('resume in-process: results, queued tasks with their binary arguments, dependencies and engine ids come back', async () => {
  const dir = tempDir();
  try {
    const a = await startHarness({ clusterId: 'res', profileDir: dir, resumeGraceMs: 200 });
    const e = await a.engine();
    const c = await a.client('client-1');
    await c.submit([{ task_id: 'done', source: '(x) => x.length', args: [new Float64Array(5)] }]);
    await c.result('done');
    e.close();
    await until(() => (a.controller.status() as any).engines.alive === 0, 5000, 'engine gone');
    const reply = await c.submit([
      { task_id: 'later', source: '(xs) => Array.from(xs).reduce((s, x) => s + x, 0)', args: [new Int32Array([1, 2, 3])] },
      { task_id: 'after-later', source: '() => "ran second"', after: ['later'] },
    ]);
    assert.deepEqual(reply.accepted, ['later', 'after-later']);
    c.close();
    await a.controller.close();
    fs.appendFileSync(a.controller.journalFile!, '{"r":"result","task_id":"lat');

    const b = await startHarness({ clusterId: 'res', profileDir: dir, resume: true, resumeGraceMs: 200 });
    try {
      assert.equal(b.controller.url, a.controller.url, 'same port after resume');
      assert.match(b.logs.join('\n'), /skipped unreadable record/);
      assert.match(b.logs.join('\n'), /3 task\(s\), 1 result\(s\), 2 to run again/);
      const again = await b.engine({ engineUuid: e.uuid });
      assert.equal(again.engineId, e.engineId, 'engine id kept across the restart');
      const c2 = await b.client('client-1');
      const rr = await c2.request('result_request', { task_ids: ['done', 'later', 'after-later'] }, 'result_reply');
      assert.deepEqual(rr.content.unknown, []);
      assert.equal((await c2.result('done')).value, 5);
      assert.equal((await c2.result('later')).value, 6);
      assert.equal((await c2.result('after-later')).value, 'ran second');
    } finally {
      await b.close();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('REST: task list, single task, reports, unknown routes and ids', async () => {
  const h = await startHarness();
  try {
    await h.engine();
    const c = await h.client();
    await c.submit([{ task_id: 'r1', source: 'function () { this.report({ step: 1 }); return 1; }' }]);
    await c.result('r1');
    const base = h.controller.dashboardUrl.replace('/?', '/PATH?');
    const get = (route: string) => fetch(base.replace('/PATH', route));
    const [listed, ...more] = await get('/api/tasks').then((r) => r.json());
    assert.deepEqual(more, []);
    assert.deepEqual({ ...listed, started_ms: typeof listed.started_ms }, { task_id: 'r1', state: 'done', engine_id: 0, attempt: 1, started_ms: 'number' });
    const one = await get('/api/tasks/r1').then((r) => r.json());
    assert.equal(one.state, 'done');
    assert.equal(one.result.status, 'ok');
    assert.deepEqual((await get('/api/reports').then((r) => r.json()))[0].data, { step: 1 });
    assert.equal((await get('/api/tasks/nope')).status, 404);
    assert.equal((await get('/api/resources/77')).status, 404);
    const missing = await get('/api/nothing');
    assert.equal(missing.status, 404);
    assert.match((await missing.json()).error, /try api\/status/);
    // POST is for the dashboard's controls only (test/dashboard): not a way to read or change anything else
    const post = await fetch(base.replace('/PATH', '/api/status'), { method: 'POST', headers: { origin: new URL(base).origin } });
    assert.equal(post.status, 404);
    assert.match((await post.json()).error, /no control api\/status/);
    const put = await fetch(base.replace('/PATH', '/api/status'), { method: 'PUT' });
    assert.equal(put.status, 405);
  } finally {
    await h.close();
  }
});
