/**
 * The client and engines across a controller restart: the controller is
 * SIGKILLed while a map is in flight and restarted with --resume at the same
 * URL; engines and the client reconnect by themselves and the map completes with
 * every result exactly once, and every task executed once on the engines
 * (each task appends its item to a file as it starts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { hpcdlProcessCommand } from '../../cluster/launchers/command';
import { runCounts } from './support/engine-tasks';

const TASKS = path.join(__dirname, 'support', 'engine-tasks.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
const children: ChildProcess[] = [];

after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

function startController(extra: string[]): ChildProcess {
  const { command, args } = hpcdlProcessCommand('controller', ['--cluster-id', 'restart', '--profile-dir', dir, '--ip', '127.0.0.1', ...extra]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.resume();
  child.stderr!.resume();
  children.push(child);
  return child;
}

async function waitFor(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a map in flight survives a controller SIGKILL + --resume with every result exactly once', async () => {
  const file = path.join(dir, 'clusters', 'restart.json');
  let controller = startController([]);
  await waitFor(() => fs.existsSync(file), 30_000, 'the connection file');
  const url = JSON.parse(fs.readFileSync(file, 'utf8')).url;
  const engines = [0, 1].map(() => {
    const { command, args } = hpcdlProcessCommand('engine', ['--connect', file, '--slots', '2']);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.resume();
    child.stderr!.resume();
    children.push(child);
    return child;
  });
  const logs: string[] = [];
  const cluster = await Cluster.connect(file, { output: 'none', handleSigint: false, log: (l) => logs.push(l) });
  try {
    await cluster.waitForEngines(2, 30_000);
    const items = Array.from({ length: 60 }, (_, i) => i);
    const runs = path.join(dir, 'runs.txt');
    fs.writeFileSync(runs, '');
    const group = cluster.balanced().map({ module: TASKS, export: 'recordRunThenSleep' }, items.map((i) => [runs, i, 150]));
    const completions = new Map<string, number>();
    for (const h of group.tasks) h.onStatus((s) => { if (s === 'done') completions.set(h.taskId, (completions.get(h.taskId) ?? 0) + 1); });
    await waitFor(() => group.progress.done >= 8, 30_000, 'some results before the kill');
    const doneBefore = group.progress.done;
    controller.kill('SIGKILL');
    await new Promise((r) => controller.once('exit', r));
    await new Promise((r) => setTimeout(r, 500));
    controller = startController(['--resume']);
    const results = await group;
    assert.deepEqual(results, items);
    assert.ok(doneBefore < 60, 'the map was in flight when the controller died');
    assert.equal(new Set(group.tasks.map((t) => t.taskId)).size, 60);
    assert.ok(group.tasks.every((t) => t.status === 'done'));
    assert.deepEqual([...completions.values()], new Array(60).fill(1), 'each task completed exactly once');
    // counted where it matters: each task ran once on the engines (adopted, not re-run)
    const counts = runCounts(runs);
    assert.deepEqual(items.filter((i) => counts.get(i) !== 1).map((i) => `${i}: ${counts.get(i) ?? 0} runs`), [], 'each task executed exactly once on the engines');
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).url, url, 'same URL after --resume');
    assert.match(logs.join('\n'), /reconnected to the controller at ws:\/\/127\.0\.0\.1/);
    assert.deepEqual(await cluster.balanced().apply((x: number) => x + 1, 1), 2);
  } finally {
    await cluster.close();
    for (const e of engines) e.kill('SIGTERM');
    controller.kill('SIGTERM');
    await Promise.all([...engines, controller].map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
  }
});
