/**
 * The disconnect policy with real processes: a client process that dies gets
 * its queued and running tasks cancelled after the controller's orphan grace
 * (so another client's work runs), unless it connected with `persist: true`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { readConnectionFile } from '../../cluster/protocol';
import { tempDir } from './support/controller-harness';
import { removeDir, startController, startEngine, waitFor, type Proc } from './support/processes';

const ORPHAN_CLIENT = path.join(__dirname, 'support', 'orphan-client.ts');
const TASKS = 20;
const GRACE_MS = 1500;

async function status(file: string): Promise<any> {
  const info = readConnectionFile(file);
  return fetch(info.dashboard_url.replace('/?', '/api/status?')).then((r) => r.json());
}

/** Start the client process, wait until its first task runs, SIGKILL it. */
async function killedClient(file: string, persist: boolean): Promise<string[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', ORPHAN_CLIENT, file, String(TASKS), persist ? 'persist' : 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  try {
    await waitFor(() => /READY /.test(out), 60_000, 'the client to submit', () => out);
  } finally {
    child.kill('SIGKILL');
  }
  await new Promise((r) => child.once('exit', r));
  return out.split('READY ')[1].trim().split(' ');
}

async function withCluster(id: string, body: (file: string, controller: Proc) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const procs: Proc[] = [];
  try {
    const { proc, file } = await startController(dir, id, ['--orphan-grace-ms', String(GRACE_MS)]);
    procs.push(proc, startEngine(file, ['--slots', '1']));
    await waitFor(() => /engine 0 registered/.test(proc.output()), 30_000, 'the engine', proc.output);
    await body(file, proc);
  } finally {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    removeDir(dir);
  }
}

test('a client process killed mid-map: after the orphan grace its queued and running tasks are cancelled and another client gets the engine', async () => {
  await withCluster('orphans', async (file, controller) => {
    await killedClient(file, false);
    const other = await Cluster.connect(file, { output: 'none', handleSigint: false });
    try {
      // one engine with one slot: this only runs once the dead client's 2-minute tasks are gone
      const value = await Promise.race([other.balanced().apply((x: number) => x + 1, 41), new Promise((r) => setTimeout(() => r('still waiting'), 20_000))]);
      assert.equal(value, 42, controller.output());
      const s = await status(file);
      assert.equal(s.tasks.cancelled, TASKS, JSON.stringify(s.tasks));
      assert.match(controller.output(), new RegExp(`client \\S+ has been gone for ${GRACE_MS} ms \\(not persist\\): cancelled its ${TASKS} unfinished task\\(s\\), 1 of them running`));
    } finally {
      await other.close();
    }
  });
});

test('a client that connected with persist: true keeps its work after it dies', async () => {
  await withCluster('persists', async (file) => {
    const ids = await killedClient(file, true);
    await new Promise((r) => setTimeout(r, GRACE_MS + 1500));
    const s = await status(file);
    assert.equal(s.tasks.cancelled, 0, JSON.stringify(s.tasks));
    assert.equal(s.tasks.running + s.tasks.queued, TASKS, JSON.stringify(s.tasks));
    assert.equal(ids.length, TASKS);
  });
});
