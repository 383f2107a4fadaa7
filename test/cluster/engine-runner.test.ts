/** TaskRunner: worker-thread execution of module and source tasks on this machine's real threads. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { TaskRunner, type TaskOutcome } from '../../cluster/engine/runner';

const TASKS = path.join(__dirname, 'support', 'engine-tasks.ts');

interface Seen {
  streams: { taskId: string; name: string; text: string }[];
  reports: { taskId: string; data: Record<string, unknown> }[];
  order: string[];
}

function makeRunner(slots: number, opts: { maxTaskMemoryMb?: number } = {}) {
  const seen: Seen = { streams: [], reports: [], order: [] };
  const waiting = new Map<string, (o: TaskOutcome) => void>();
  const runner = new TaskRunner(
    { slots, maxTaskMemoryMb: opts.maxTaskMemoryMb },
    {
      onStream: (taskId, name, text) => {
        seen.streams.push({ taskId, name, text });
        seen.order.push(`stream:${taskId}`);
      },
      onReport: (taskId, data) => {
        seen.reports.push({ taskId, data });
        seen.order.push(`report:${taskId}`);
      },
      onResult: (taskId, outcome) => {
        seen.order.push(`result:${taskId}`);
        waiting.get(taskId)?.(outcome);
      },
    },
  );
  const run = (task_id: string, task: { export?: string; source?: string; share?: true; args: unknown[]; timeout_ms?: number }) =>
    new Promise<TaskOutcome>((resolve) => {
      waiting.set(task_id, resolve);
      runner.submit(
        task.share
          ? { task_id, kind: 'share', args: task.args }
          : task.source !== undefined
            ? { task_id, kind: 'source', source: task.source, args: task.args, timeout_ms: task.timeout_ms }
            : { task_id, kind: 'module', module: TASKS, export: task.export, args: task.args, timeout_ms: task.timeout_ms },
      );
    });
  return { runner, run, seen };
}

const runners: TaskRunner[] = [];
after(async () => {
  await Promise.all(runners.map((r) => r.close()));
});

test('a TypeScript module task gets typed arrays, reports metrics, and its output is captured in order', async () => {
  const { runner, run, seen } = makeRunner(1);
  runners.push(runner);
  const outcome = await run('t1', { export: 'trainLike', args: [3, new Float32Array([1, 2, 3.5])] });
  assert.equal(outcome.status, 'ok');
  const value = (outcome as { value: { sum: number; scaled: Float32Array } }).value;
  assert.equal(value.sum, 6.5);
  assert.ok(value.scaled instanceof Float32Array);
  assert.deepEqual([...value.scaled], [2, 4, 7]);
  assert.deepEqual(seen.reports.map((r) => r.data.epoch), [0, 1, 2]);
  const stdout = seen.streams.filter((s) => s.name === 'stdout').map((s) => s.text).join('');
  assert.equal(stdout, 'epoch 0\nepoch 1\nepoch 2\n');
  assert.equal(seen.streams.filter((s) => s.name === 'stderr').map((s) => s.text).join(''), 'done training\n');
  // everything the task printed arrives before its result
  assert.equal(seen.order[seen.order.length - 1], 'result:t1');
});

test('a function source task runs with its arguments', async () => {
  const { runner, run, seen } = makeRunner(1);
  runners.push(runner);
  const outcome = await run('s1', { source: '(x, y) => { console.log("adding", x, y); return x + y; }', args: [40, 2] });
  assert.deepEqual(outcome, { status: 'ok', value: 42 });
  assert.equal(seen.streams.map((s) => s.text).join(''), 'adding 40 2\n');
});

test('a throwing task yields its error; the runner keeps running tasks', async () => {
  const { runner, run } = makeRunner(1);
  runners.push(runner);
  const bad = await run('e1', { export: 'throwRange', args: [] });
  assert.equal(bad.status, 'error');
  assert.equal((bad as { error: { ename: string } }).error.ename, 'RangeError');
  assert.match((bad as { error: { evalue: string } }).error.evalue, /value out of range/);
  assert.deepEqual(await run('e2', { export: 'double', args: [4] }), { status: 'ok', value: 8 });
});

test('process.exit inside a task ends only its worker: error result, next task runs', async () => {
  const { runner, run } = makeRunner(1);
  runners.push(runner);
  const crashed = await run('c1', { export: 'exitThread', args: [7] });
  assert.equal(crashed.status, 'error');
  const err = (crashed as { error: { ename: string; evalue: string } }).error;
  assert.equal(err.ename, 'TaskCrashed');
  assert.match(err.evalue, /exit code 7/);
  assert.deepEqual(await run('c2', { export: 'double', args: [5] }), { status: 'ok', value: 10 });
});

test('a task exhausting its heap limit fails with TaskOutOfMemory, the runner survives', async () => {
  const { runner, run } = makeRunner(1, { maxTaskMemoryMb: 48 });
  runners.push(runner);
  const oom = await run('m1', { export: 'exhaustHeap', args: [] });
  assert.equal(oom.status, 'error');
  assert.equal((oom as { error: { ename: string } }).error.ename, 'TaskOutOfMemory');
  assert.deepEqual(await run('m2', { export: 'double', args: [1] }), { status: 'ok', value: 2 });
});

test('cancel terminates a running busy task and reports per-task CPU while it runs', async () => {
  const { runner, run } = makeRunner(2);
  runners.push(runner);
  const running = run('k1', { export: 'spin', args: [60_000] });
  await new Promise((r) => setTimeout(r, 800));
  runner.usage(); // baseline
  await new Promise((r) => setTimeout(r, 600));
  const usage = runner.usage();
  assert.equal(usage.length, 1);
  assert.equal(usage[0].task_id, 'k1');
  assert.ok(usage[0].cpu_percent > 10, `a spinning task uses CPU, got ${usage[0].cpu_percent}%`);
  assert.ok(usage[0].memory_bytes > 0);
  const started = Date.now();
  assert.equal(runner.cancel('k1'), true);
  const outcome = await running;
  assert.equal(outcome.status, 'cancelled');
  assert.ok(Date.now() - started < 2000);
  assert.deepEqual(await run('k2', { export: 'double', args: [3] }), { status: 'ok', value: 6 });
});

test('timeouts terminate the task; queued tasks beyond the slots wait and can be cancelled', async () => {
  const { runner, run } = makeRunner(1);
  runners.push(runner);
  const slow = run('q1', { export: 'spin', args: [30_000], timeout_ms: 400 });
  const queued = run('q2', { export: 'double', args: [9] });
  const queuedCancelled = run('q3', { export: 'double', args: [10] });
  assert.equal(runner.load, 3);
  assert.equal(runner.cancel('q3'), true);
  assert.equal((await queuedCancelled).status, 'cancelled');
  const timedOut = await slow;
  assert.equal(timedOut.status, 'error');
  assert.equal((timedOut as { error: { ename: string } }).error.ename, 'TaskTimeout');
  assert.deepEqual(await queued, { status: 'ok', value: 18 });
});

test('values broadcast through one worker reach the other workers of the engine', async () => {
  const { runner, run } = makeRunner(2);
  runners.push(runner);
  await run('b1', { share: true, args: ['lr', { value: 0.01 }] });
  const reads = await Promise.all([
    run('b2', { export: 'readShared', args: ['lr'] }),
    run('b3', { source: '(name) => shared(name)', args: ['lr'] }),
  ]);
  for (const r of reads) assert.deepEqual(r, { status: 'ok', value: { value: 0.01 } });
});

test('a missing export names the module and the functions it has', async () => {
  const { runner, run } = makeRunner(1);
  runners.push(runner);
  const outcome = await run('x1', { export: 'nope', args: [] });
  assert.equal(outcome.status, 'error');
  assert.match((outcome as { error: { evalue: string } }).error.evalue, /engine-tasks\.ts has no exported function "nope".*double/);
});

test('short tasks are pipelined to workers; cancelling one queued inside a worker cancels only that one, exactly once', async () => {
  const { runner, run } = makeRunner(1);
  runners.push(runner);
  const results = new Map<string, TaskOutcome[]>();
  await Promise.all(Array.from({ length: 20 }, (_, i) => run(`w${i}`, { source: '(x) => x', args: [i] })));
  const handles: Promise<TaskOutcome>[] = [run('p-spin', { export: 'spin', args: [300] })];
  for (let i = 0; i < 30; i++) handles.push(run(`p${i}`, { source: '(x) => x * 3', args: [i] }).then((o) => (results.set(`p${i}`, [...(results.get(`p${i}`) ?? []), o]), o)));
  await new Promise((r) => setImmediate(r)); // dispatched: several of them now sit in the worker behind the spin
  assert.ok(runner.runningTaskIds().includes('p5'), 'p5 was handed to the worker (pipelined), not only queued');
  assert.equal(runner.cancel('p5'), true);
  const outcomes = await Promise.all(handles);
  assert.deepEqual(outcomes[0], { status: 'ok', value: 300 });
  for (let i = 0; i < 30; i++) {
    const o = outcomes[i + 1];
    if (i === 5) assert.equal(o.status, 'cancelled');
    else assert.deepEqual(o, { status: 'ok', value: i * 3 });
    assert.equal(results.get(`p${i}`)!.length, 1);
  }
  assert.equal(runner.load, 0);
});

test('a crash inside a pipeline fails only the crashing task; the tasks behind it run on a fresh worker', async () => {
  const { runner, run } = makeRunner(1);
  runners.push(runner);
  await Promise.all(Array.from({ length: 20 }, (_, i) => run(`v${i}`, { source: '(x) => x', args: [i] })));
  const before = Array.from({ length: 5 }, (_, i) => run(`a${i}`, { source: '(x) => x + 100', args: [i] }));
  const crash = run('crash', { source: '() => process.exit(4)', args: [] });
  const behind = Array.from({ length: 10 }, (_, i) => run(`b${i}`, { source: '(x) => x - 1', args: [i] }));
  await new Promise((r) => setImmediate(r));
  assert.ok(runner.runningTaskIds().includes('b0'), 'tasks behind the crash were pipelined into the same worker');
  assert.deepEqual(await Promise.all(before), [0, 1, 2, 3, 4].map((i) => ({ status: 'ok', value: i + 100 })));
  const crashed = await crash;
  assert.equal(crashed.status, 'error');
  assert.match((crashed as { error: { evalue: string } }).error.evalue, /task crash ended its worker thread with exit code 4/);
  assert.deepEqual(await Promise.all(behind), Array.from({ length: 10 }, (_, i) => ({ status: 'ok', value: i - 1 })));
});

test('quick-cell sources transpiled by tsx (inner functions and classes use __name) run', async () => {
  const { runner, run } = makeRunner(1);
  runners.push(runner);
  const withInnerNames = (x: number) => {
    function inner(y: number) {
      return y + 1;
    }
    class Box {
      get() {
        return 3;
      }
    }
    return inner(x) + new Box().get();
  };
  assert.deepEqual(await run('h1', { source: withInnerNames.toString(), args: [1] }), { status: 'ok', value: 5 });
});
