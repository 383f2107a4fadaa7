/**
 * The controller's IO-free Scheduler, table-driven: engines and queued tasks
 * in, the placement of one dispatch round out (which engine got which task,
 * which GPUs were reserved, what stayed queued).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, type SchedEngine, type SchedTask } from '../../cluster/controller/scheduler';
import type { ResourceRequest } from '../../cluster/protocol';

interface EngineRow {
  id: number;
  slots: number;
  gpus?: number;
  cpus?: number;
  memory?: number;
}

interface TaskRow {
  id: string;
  resources?: ResourceRequest;
  allowed?: number[];
  blacklist?: number[];
}

interface Case {
  name: string;
  engines: EngineRow[];
  tasks: TaskRow[];
  prefetch?: number;
  paused?: boolean;
  /** task id → engine id, in the order assign() was called */
  placed: [string, number][];
  /** task id → GPUs reserved for it */
  gpus?: Record<string, number[]>;
}

function engine(row: EngineRow): SchedEngine {
  const gpus = Array.from({ length: row.gpus ?? 0 }, (_, index) => ({ index, name: `GPU ${index}`, memory_bytes: 16 * 2 ** 30 }));
  const cpus = row.cpus ?? 8;
  const memory = row.memory ?? 32 * 2 ** 30;
  return { id: row.id, slots: row.slots, resources: { cpus, memory_bytes: memory, gpus }, assigned: new Set(), freeGpus: gpus.map((g) => g.index), freeCpus: cpus, freeMemory: memory, alive: true };
}

function task(row: TaskRow): SchedTask {
  return {
    id: row.id,
    state: 'queued',
    resources: row.resources ?? null,
    allowed: row.allowed ? new Set(row.allowed) : null,
    blacklist: row.blacklist ? new Set(row.blacklist) : null,
    reservedGpus: null,
  };
}

const ids = (prefix: string, n: number): TaskRow[] => Array.from({ length: n }, (_, i) => ({ id: `${prefix}${i + 1}` }));

const CASES: Case[] = [
  { name: 'least load: one task per idle engine', engines: [{ id: 1, slots: 1 }, { id: 2, slots: 1 }], tasks: ids('t', 2), placed: [['t1', 1], ['t2', 2]] },
  { name: 'a tie goes to the lower engine id', engines: [{ id: 2, slots: 2 }, { id: 1, slots: 2 }], tasks: ids('t', 1), placed: [['t1', 1]] },
  {
    name: 'load is counted relative to slots',
    engines: [{ id: 1, slots: 1 }, { id: 2, slots: 3 }],
    tasks: ids('t', 5),
    placed: [['t1', 1], ['t2', 2], ['t3', 2], ['t4', 2]],
  },
  {
    name: 'many queued: engines prefetch up to `prefetch` beyond their slots, alternating',
    engines: [{ id: 1, slots: 1 }, { id: 2, slots: 1 }],
    tasks: ids('t', 7),
    prefetch: 2,
    placed: [['t1', 1], ['t2', 2], ['t3', 1], ['t4', 2], ['t5', 1], ['t6', 2]],
  },
  {
    name: 'few queued: prefetch shrinks to the queue per engine',
    engines: [{ id: 1, slots: 1 }, { id: 2, slots: 1 }],
    tasks: ids('t', 3),
    prefetch: 2,
    placed: [['t1', 1], ['t2', 2], ['t3', 1]],
  },
  {
    name: 'GPU requests go to the GPU engine and reserve distinct GPUs; plain work fills the rest',
    engines: [{ id: 1, slots: 2 }, { id: 2, slots: 2, gpus: 2 }],
    tasks: [{ id: 'g1', resources: { gpus: 1 } }, { id: 'g2', resources: { gpus: 1 } }, { id: 'p1' }],
    placed: [['g1', 2], ['g2', 2], ['p1', 1]],
    gpus: { g1: [0], g2: [1] },
  },
  {
    name: 'a GPU request no engine can ever meet stays queued',
    engines: [{ id: 1, slots: 2, gpus: 2 }],
    tasks: [{ id: 'big', resources: { gpus: 4 } }, { id: 'p1' }],
    placed: [['p1', 1]],
  },
  {
    name: 'cpu and memory requests are reserved: the second does not fit beside the first',
    engines: [{ id: 1, slots: 4, cpus: 4, memory: 8 }],
    tasks: [{ id: 'c1', resources: { cpus: 3 } }, { id: 'c2', resources: { cpus: 2 } }, { id: 'm1', resources: { memory_bytes: 8 } }],
    placed: [['c1', 1], ['m1', 1]],
  },
  { name: 'targets restrict a task to its engines', engines: [{ id: 1, slots: 1 }, { id: 2, slots: 1 }], tasks: [{ id: 'x', allowed: [2] }], placed: [['x', 2]] },
  { name: 'a retry blacklist keeps a task off the engine that failed it', engines: [{ id: 1, slots: 1 }, { id: 2, slots: 1 }], tasks: [{ id: 'r', blacklist: [1] }], placed: [['r', 2]] },
  {
    name: 'constrained tasks never prefetch: one per slot',
    engines: [{ id: 1, slots: 1 }],
    tasks: [{ id: 'a', allowed: [1] }, { id: 'b', allowed: [1] }],
    prefetch: 4,
    placed: [['a', 1]],
  },
  { name: 'a target that is not registered waits', engines: [{ id: 1, slots: 1 }], tasks: [{ id: 'x', allowed: [7] }], placed: [] },
  { name: 'paused: nothing is dispatched', engines: [{ id: 1, slots: 1 }], tasks: ids('t', 2), paused: true, placed: [] },
  { name: 'no engines: nothing is dispatched', engines: [], tasks: ids('t', 2), placed: [] },
];

for (const c of CASES) {
  test(`scheduler: ${c.name}`, () => {
    const placed: [string, number][] = [];
    const scheduler = new Scheduler<SchedTask>((e, t) => placed.push([t.id, e.id]), { prefetch: c.prefetch ?? 0 });
    for (const row of c.engines) scheduler.addEngine(engine(row));
    const tasks = c.tasks.map(task);
    for (const t of tasks) scheduler.enqueue(t);
    scheduler.setPaused(c.paused ?? false);
    assert.equal(scheduler.dispatch(), c.placed.length);
    assert.deepEqual(placed, c.placed);
    for (const [id, gpus] of Object.entries(c.gpus ?? {})) assert.deepEqual(tasks.find((t) => t.id === id)!.reservedGpus, gpus, `GPUs of ${id}`);
    assert.equal(scheduler.queuedPlain + scheduler.queuedConstrained, c.tasks.length - c.placed.length, 'the rest stays queued');
  });
}

test('scheduler: a released slot and its GPU go to the next queued task; a removed engine gets nothing', () => {
  const placed: [string, number][] = [];
  const scheduler = new Scheduler<SchedTask>((e, t) => placed.push([t.id, e.id]), { prefetch: 0 });
  const e1 = engine({ id: 1, slots: 1, gpus: 1 });
  const e2 = engine({ id: 2, slots: 1 });
  scheduler.addEngine(e1);
  scheduler.addEngine(e2);
  const [g1, g2] = [task({ id: 'g1', resources: { gpus: 1 } }), task({ id: 'g2', resources: { gpus: 1 } })];
  scheduler.enqueue(g1);
  scheduler.enqueue(g2);
  assert.equal(scheduler.dispatch(), 1);
  assert.deepEqual(e1.freeGpus, []);
  g1.state = 'done';
  scheduler.release(e1, g1, 'g1');
  assert.deepEqual(e1.freeGpus, [0], 'the GPU is free again');
  assert.equal(g1.reservedGpus, null);
  assert.equal(scheduler.dispatch(), 1);
  assert.deepEqual(placed, [['g1', 1], ['g2', 1]]);
  assert.equal(scheduler.couldEverRun(task({ id: 'g3', resources: { gpus: 1 } })), true);
  scheduler.removeEngine(1);
  assert.equal(e1.alive, false);
  assert.equal(scheduler.couldEverRun(task({ id: 'g3', resources: { gpus: 1 } })), false, 'no GPU engine is left');
  scheduler.enqueue(task({ id: 'p1' }));
  assert.equal(scheduler.dispatch(), 1);
  assert.deepEqual(placed.at(-1), ['p1', 2]);
});

test('scheduler: tasks no longer queued (cancelled meanwhile) are skipped, not placed', () => {
  const placed: string[] = [];
  const scheduler = new Scheduler<SchedTask>((_e, t) => placed.push(t.id), { prefetch: 0 });
  scheduler.addEngine(engine({ id: 1, slots: 2 }));
  const [a, b, c] = ids('t', 3).map(task);
  for (const t of [a, b, c]) scheduler.enqueue(t);
  b.state = 'cancelled';
  assert.equal(scheduler.dispatch(), 2);
  assert.deepEqual(placed, ['t1', 't3']);
});
