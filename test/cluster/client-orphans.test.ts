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

async function startClient(mode: 'wait' | 'exit'): Promise<{ pids: { controller: number; engines: number[] }; child: ReturnType<typeof spawn>; exited: Promise<unknown> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  dirs.push(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'support', 'start-and-wait.ts'), dir, mode], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
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
  return { pids: JSON.parse(line), child, exited };
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

test('SIGKILL of the client: controller and engines notice their parent is gone and stop', async () => {
  const { pids, child, exited } = await startClient('wait');
  const all = [pids.controller, ...pids.engines];
  assert.ok(all.every(alive));
  child.kill('SIGKILL');
  await exited;
  const left = await allGone(all, 15_000);
  for (const pid of left) process.kill(pid, 'SIGKILL'); // do not leave them behind even if the test fails
  assert.deepEqual(left, []);
});
