/**
 * The controller's memory with real processes: result bytes are bounded
 * (--result-memory-mb; large results live in spill files, read back when
 * asked for), and the journal is compacted (--journal-compact-mb) without
 * losing what --resume needs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { readConnectionFile } from '../../cluster/protocol';
import { LightClient } from '../../bench/support/cluster-peers';
import { tempDir } from './support/controller-harness';
import { removeDir, startController, startEngine, waitFor, type Proc } from './support/processes';

const MB = 1024 * 1024;
/** 40 MiB results: 800 MiB went through the controller */
const RESULTS = 20;

async function status(file: string): Promise<any> {
  const info = readConnectionFile(file);
  return fetch(info.dashboard_url.replace('/?', '/api/status?')).then((r) => r.json());
}

async function client(file: string): Promise<LightClient> {
  const info = readConnectionFile(file);
  const c = new LightClient(info.url, info.key);
  await c.connect();
  return c;
}

/** A task returning `n` floats: seed + (i mod 1000). */
const BIG_RESULT = '(n, seed) => { const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = seed + (i % 1000); return a; }';

/** A task that runs until `file` exists. */
const WAIT_FOR_FILE = '(file) => new Promise((r) => { const t = setInterval(() => { if (require("node:fs").existsSync(file)) { clearInterval(t); r("went"); } }, 50); })';

function checkBig(result: { status: string; value?: unknown; error?: unknown }, n: number, seed: number): void {
  const value = result.value;
  assert.ok(value instanceof Float32Array, `a Float32Array, got ${result.status} ${Object.prototype.toString.call(value)} ${JSON.stringify(result.error)}`);
  assert.equal(value.length, n);
  for (const i of [0, 1, 999, 1000, n - 1]) assert.equal(value[i], seed + (i % 1000));
}

test('twenty 40 MB results under --result-memory-mb 64: delivered results leave memory (spilled to disk), the controller RSS stays within the bound + 448 MB, and a late result_request reads them back', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  try {
    // a generous engine timeout: on a loaded machine an engine sending 40 MB frames can miss heartbeats for 2.5 s
    const { proc, file } = await startController(dir, 'bigres', ['--result-memory-mb', '64', '--engine-timeout-ms', '20000']);
    procs.push(proc, startEngine(file));
    await waitFor(() => /engine 0 registered/.test(proc.output()), 30_000, 'the engine', proc.output);
    const before = (await status(file)).memory.rss;
    const n = 10 * MB; // 40 MiB of floats
    const c = await client(file);
    await c.submit(Array.from({ length: RESULTS }, (_, i) => ({ task_id: `big${i}`, source: BIG_RESULT, args: [n, i] })));
    for (let i = 0; i < RESULTS; i++) checkBig(await c.result(`big${i}`, 120_000), n, i);
    c.close();
    // V8 collects the buffers that left the task table when it next collects: the least RSS over 3 s
    let s = await status(file);
    let rss = s.memory.rss;
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 300));
      s = await status(file);
      rss = Math.min(rss, s.memory.rss);
    }
    const grew = (rss - before) / MB;
    if (process.env.HPCDL_TEST_VERBOSE) console.log(`controller RSS grew by ${grew.toFixed(0)} MB; results ${JSON.stringify(s.results)}`);
    assert.equal(s.results.spilled, RESULTS, JSON.stringify(s.results));
    assert.ok(s.results.held_bytes <= 64 * MB, `held ${s.results.held_bytes} bytes`);
    // + 448 MB: evicted buffers V8 has not collected yet and allocator slack. Measured on the loaded
    // 2-core machine: 74-355 MB over nine runs; 1,014 MB when nothing leaves memory (800 MB held).
    assert.ok(grew < 64 + 448, `controller RSS grew by ${grew.toFixed(0)} MB after ${RESULTS * 40} MB of results`);
    const journal = fs.statSync(file.replace(/\.json$/, '.journal.jsonl')).size;
    assert.ok(journal < MB, `the journal names the spill files instead of holding base64 (${journal} bytes)`);
    // the first results are no longer in memory: asked for again, they come from disk
    const late = await client(file);
    await late.request('result_request', { task_ids: ['big0', 'big7'] }, 'result_reply');
    checkBig(await late.result('big0', 30_000), n, 0);
    checkBig(await late.result('big7', 30_000), n, 7);
    late.close();
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    removeDir(dir);
  }
});

test('journal compaction (--journal-compact-mb 1): a controller SIGKILLed after compacting resumes with the right state', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  try {
    // --prefetch 0: no filler queues up behind the long task on its engine
    const first = await startController(dir, 'compact', ['--journal-compact-mb', '1', '--prefetch', '0']);
    procs.push(first.proc, startEngine(first.file, ['--slots', '2']));
    await waitFor(() => /engine 0 registered/.test(first.proc.output()), 30_000, 'the engine', first.proc.output);
    const c = await client(first.file);
    const arg = (seed: number) => new Float64Array(2500).fill(seed); // 20 KB per submission
    const sum = '(a) => a.reduce((s, x) => s + x, 0)';
    // one task running through the crash, one waiting on it with its arguments, then enough finished work to compact
    await c.submit([
      { task_id: 'long', source: WAIT_FOR_FILE, args: [`${dir}/go`] },
      { task_id: 'dep', source: sum, args: [arg(3)], after: ['long'] },
    ]);
    const ids = Array.from({ length: 200 }, (_, i) => `f${i}`);
    // in batches, so most of the journal is finished work whose arguments compaction can drop
    for (let b = 0; b < ids.length; b += 10) {
      await c.submit(ids.slice(b, b + 10).map((id, k) => ({ task_id: id, source: sum, args: [arg(b + k)] })));
      for (let i = b; i < b + 10; i++) assert.equal((await c.result(ids[i], 60_000)).value, 2500 * i);
    }
    // compaction runs after the write that crossed the threshold, off the message path
    let s = await status(first.file);
    for (let i = 0; i < 50 && s.journal.compactions < 1; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await status(first.file);
    }
    assert.ok(s.journal.compactions >= 1, JSON.stringify(s.journal));
    const size = fs.statSync(first.file.replace(/\.json$/, '.journal.jsonl')).size;
    assert.ok(size < 2 * MB, `compacted journal ${size} bytes (about 5.4 MB of submissions went in)`);
    assert.equal(s.tasks.running, 1, JSON.stringify(s.tasks));
    assert.equal(s.tasks.waiting, 1, JSON.stringify(s.tasks));
    c.close();
    first.proc.child.kill('SIGKILL');
    await first.proc.exited;

    const second = await startController(dir, 'compact', ['--resume', '--prefetch', '0']);
    procs.push(second.proc);
    const later = await client(second.file);
    const reply = await later.request('result_request', { task_ids: [...ids, 'long', 'dep'] }, 'result_reply');
    assert.deepEqual(reply.content.unknown, []);
    for (const [i, id] of ids.entries()) assert.equal((await later.result(id, 30_000)).value, 2500 * i);
    fs.writeFileSync(`${dir}/go`, '');
    assert.equal((await later.result('long', 60_000)).value, 'went');
    assert.equal((await later.result('dep', 30_000)).value, 2500 * 3, 'the waiting task kept its arguments through compaction and resume');
    later.close();
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    removeDir(dir);
  }
});
