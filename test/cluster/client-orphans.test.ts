/** A client that started a cluster leaves no controller or engine behind, however it ends. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { alive } from '../support/pids';

const ROOT = path.join(__dirname, '..', '..');
const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

async function startClient(mode: 'wait' | 'exit', placement: 'in-process' | 'process' = 'in-process'): Promise<{ pids: { controller: number; engines: number[] }; child: ReturnType<typeof spawn>; exited: Promise<unknown>; dir: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  dirs.push(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'support', 'start-and-wait.ts'), dir, mode, placement], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(out.split('\n')[0]);
    });
    child.on('exit', (code) => reject(new Error(`client exited (${code}) before starting the cluster: ${err}`)));
  });
  return { pids: JSON.parse(line), child, exited, dir };
}

async function allGone(pids: number[], timeoutMs: number): Promise<number[]> {
  const t0 = Date.now();
  while (Date.now() - t0 < timeoutMs) {
    if (pids.every((p) => !alive(p))) return [];
    await new Promise((r) => setTimeout(r, 100));
  }
  return pids.filter(alive);
}

test('process.exit without close(): the exit hook stops the controller and the engines', async () => {
  const { pids, exited } = await startClient('exit');
  await exited;
  const all = [pids.controller, ...pids.engines];
  assert.equal(all.length, 3);
  assert.deepEqual(await allGone(all, 5000), []);
});

/** Polls every 10 ms until every pid is gone; returns how long that took, or the pids left at the deadline. */
async function goneWithin(pids: number[], deadlineMs: number): Promise<{ ms: number; left: number[] }> {
  const t0 = Date.now();
  while (Date.now() - t0 < deadlineMs) {
    if (pids.every((p) => !alive(p))) return { ms: Date.now() - t0, left: [] };
    await new Promise((r) => setTimeout(r, 10));
  }
  return { ms: Date.now() - t0, left: pids.filter(alive) };
}

for (const placement of ['in-process', 'process'] as const) {
  test(`SIGKILL of the client (controller ${placement}): ${placement === 'process' ? 'the controller process and the engines' : 'the engines'} stop within a second`, async () => {
    const { pids, child, exited } = await startClient('wait', placement);
    const all = placement === 'process' ? [pids.controller, ...pids.engines] : pids.engines;
    if (placement === 'process') assert.notEqual(pids.controller, child.pid, 'the controller is a process of its own');
    assert.equal(all.length, placement === 'process' ? 3 : 2);
    assert.ok(all.every(alive));
    child.kill('SIGKILL');
    await exited;
    // docs/cluster.md: "the children notice their parent is gone within a second and stop"
    const { ms, left } = await goneWithin(all, 1000);
    for (const pid of left) process.kill(pid, 'SIGKILL'); // do not leave them behind even if the test fails
    assert.deepEqual(left, [], `still running 1 s after the client was killed`);
    if (process.env.HPCDL_TEST_VERBOSE) console.log(`gone after ${ms} ms`);
    assert.ok(ms <= 1000, `gone after ${ms} ms`);
  });
}

test('Ctrl-C (SIGINT) in a script that started a cluster closes it and exits with 130', async () => {
  const { pids, child, exited, dir } = await startClient('wait', 'process');
  const all = [pids.controller, ...pids.engines];
  assert.ok(all.every(alive));
  child.kill('SIGINT');
  assert.equal(await exited, 130);
  const left = await allGone(all, 5000);
  for (const pid of left) process.kill(pid, 'SIGKILL');
  assert.deepEqual(left, [], 'controller and engines stopped');
  const files = fs.readdirSync(path.join(dir, 'clusters')).filter((f) => f.endsWith('.json'));
  assert.deepEqual(files, [], 'closed: the connection file is removed');
});
