/** The `hpcdl engine` process on its own: unreachable controller, wrong key, slots, graceful stop. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { hpcdlProcessCommand } from '../../cluster/launchers/command';
import { parseEngineArgs } from '../../cluster/engine/cli';

const TASKS = path.join(__dirname, 'support', 'engine-tasks.ts');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
let cluster: Cluster;

before(async () => {
  cluster = await Cluster.start({ engines: 0, profileDir: dir, output: 'none', log: () => undefined, handleSigint: false });
});

after(async () => {
  await cluster?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function runEngine(args: string[]): { done: Promise<{ code: number | null; stderr: string }>; kill: (s: NodeJS.Signals) => void; pid: number } {
  const { command, args: full } = hpcdlProcessCommand('engine', args);
  const child = spawn(command, full, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.on('data', (d) => (stderr += d));
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
  return { done, kill: (s) => child.kill(s), pid: child.pid! };
}

function writeConnection(name: string, patch: Record<string, unknown>): string {
  const info = JSON.parse(fs.readFileSync(cluster.connectionFile, 'utf8'));
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ ...info, ...patch }), { mode: 0o600 });
  return file;
}

test('argument errors are named', () => {
  assert.throws(() => parseEngineArgs([]), /--connect FILE\|ID is required/);
  assert.throws(() => parseEngineArgs(['--connect', 'x', '--slots', '0']), /--slots expects a positive integer, got "0"/);
  assert.throws(() => parseEngineArgs(['--connect', 'x', '--gpus', 'a,b']), /--gpus expects a comma-separated list/);
  assert.deepEqual(parseEngineArgs(['--connect=x', '--gpus', '0,2', '--label', 'rack=7']).gpus, [0, 2]);
});

test('an engine that cannot reach the controller says so with the URL it tried, then gives up', async () => {
  const file = writeConnection('unreachable.json', { url: 'ws://127.0.0.1:9' });
  const { code, stderr } = await runEngine(['--connect', file, '--reconnect-timeout', '2']).done;
  assert.equal(code, 3);
  assert.match(stderr, /cannot reach controller at ws:\/\/127\.0\.0\.1:9 .*retrying in/);
  assert.match(stderr, /giving up after \d+ s/);
});

test('an engine with the wrong key is refused with a clear message and exits', async () => {
  const file = writeConnection('wrong-key.json', { key: 'wrong' });
  const { code, stderr } = await runEngine(['--connect', file]).done;
  assert.equal(code, 4, "refused: exit code 4");
  assert.match(stderr, /refused the connection: bad key \(check the connection file\)/);
});

test('a missing connection file is reported by path', async () => {
  const { code, stderr } = await runEngine(['--connect', path.join(dir, 'nope.json')]).done;
  assert.equal(code, 1);
  assert.match(stderr, /connection file .*nope\.json does not exist/);
});

test('an engine joined by cluster id runs --slots tasks at once and stops cleanly on SIGTERM', async () => {
  const engine = runEngine(['--connect', cluster.clusterId, '--profile-dir', dir, '--slots', '2']);
  try {
    await cluster.waitForEngines(1, 30_000);
    const [id] = cluster.engineIds;
    const [a, b] = (await cluster.engine(id).map({ module: TASKS, export: 'sleepWindow' }, [1000, 1000])) as { start: number; end: number }[];
    assert.ok(Math.max(a.start, b.start) < Math.min(a.end, b.end), 'the two tasks ran side by side on a 2-slot engine');
  } finally {
    engine.kill('SIGTERM');
  }
  const { code, stderr } = await engine.done;
  assert.equal(code, 0);
  assert.match(stderr, /SIGTERM: stopping/);
});

test('CUDA_VISIBLE_DEVICES parsing: index lists narrow the GPUs, UUIDs and unset do not', async () => {
  const { visibleDevices } = await import('../../cluster/engine/engine');
  assert.equal(visibleDevices(undefined), undefined);
  assert.deepEqual(visibleDevices('0,2'), [0, 2]);
  assert.deepEqual(visibleDevices(''), []);
  assert.equal(visibleDevices('GPU-1234abcd,GPU-5678'), undefined);
});

test('an engine given --gpus registers them (no nvidia-smi here: named by index)', async () => {
  const engine = runEngine(['--connect', cluster.connectionFile, '--gpus', '0,1']);
  try {
    await cluster.waitForEngines(1, 30_000);
    const [e] = (await cluster.engines()).filter((x) => x.state === 'alive');
    assert.deepEqual(e.resources.gpus.map((g) => g.index), [0, 1]);
    const visible = await cluster.engine(e.engine_id).apply(() => process.env.CUDA_VISIBLE_DEVICES);
    assert.equal(visible, '0,1');
  } finally {
    engine.kill('SIGTERM');
    await engine.done;
  }
});
