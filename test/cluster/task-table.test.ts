/**
 * The controller's IO-free TaskTable, table-driven: submissions in, tasks,
 * per-state counts and the --keep-finished bound out.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskTable } from '../../cluster/controller/task-table';
import type { TaskState, TaskSubmission } from '../../cluster/protocol';

const submission = (task_id: string, extra: Partial<TaskSubmission> = {}): TaskSubmission =>
  ({ task_id, kind: 'source', source: '(x) => x', args: { $v: [1], $b: [] }, ...extra }) as TaskSubmission;

interface CreateCase {
  name: string;
  sub: TaskSubmission;
  expect: { retriesLeft: number; resources: unknown; allowed: number[] | null };
}

const CREATE_CASES: CreateCase[] = [
  { name: 'a plain task', sub: submission('a'), expect: { retriesLeft: 0, resources: null, allowed: null } },
  { name: 'retries are floored and never negative', sub: submission('b', { retries: 2.7 }), expect: { retriesLeft: 2, resources: null, allowed: null } },
  { name: 'negative retries count as none', sub: submission('c', { retries: -3 }), expect: { retriesLeft: 0, resources: null, allowed: null } },
  { name: 'a resource request is kept', sub: submission('d', { resources: { gpus: 1 } }), expect: { retriesLeft: 0, resources: { gpus: 1 }, allowed: null } },
  { name: 'an empty resource request is no request', sub: submission('e', { resources: { gpus: 0 } }), expect: { retriesLeft: 0, resources: null, allowed: null } },
  { name: 'target engines become the allowed set', sub: submission('f', { targets: [3, 1] }), expect: { retriesLeft: 0, resources: null, allowed: [1, 3] } },
  { name: "'all' is expanded by the caller, not here", sub: submission('g', { targets: 'all' }), expect: { retriesLeft: 0, resources: null, allowed: null } },
];

for (const c of CREATE_CASES) {
  test(`task table create: ${c.name}`, () => {
    const table = new TaskTable(100);
    const buffers = [new Uint8Array([1, 2])];
    const task = table.create(c.sub, buffers, 'owner-1')!;
    assert.equal(task.id, c.sub.task_id);
    assert.equal(task.state, 'waiting');
    assert.equal(task.owner, 'owner-1');
    assert.equal(task.argBuffers, buffers);
    assert.deepEqual(task.args, c.sub.args);
    assert.equal('args' in task.spec, false, 'the spec holds everything but the arguments');
    assert.equal(task.spec.kind, c.sub.kind);
    assert.equal(task.retriesLeft, c.expect.retriesLeft);
    assert.deepEqual(task.resources, c.expect.resources);
    assert.deepEqual(task.allowed ? [...task.allowed].sort() : null, c.expect.allowed);
    assert.equal(table.counts.waiting, 1);
    assert.equal(table.create(c.sub, [], null), null, 'a known id is not created twice');
    assert.equal(table.size, 1);
  });
}

interface LifeCase {
  name: string;
  keepFinished: number;
  /** per task: the states it goes through after 'waiting'; a terminal last state is settled and remembered */
  lives: Record<string, TaskState[]>;
  kept: string[];
  forgotten: number;
  counts: Partial<Record<TaskState, number>>;
}

const LIFE_CASES: LifeCase[] = [
  {
    name: 'states move the counts',
    keepFinished: 10,
    lives: { a: ['queued'], b: ['queued', 'running'], c: ['queued', 'running', 'done'], d: ['queued', 'running', 'error'] },
    kept: ['a', 'b', 'c', 'd'],
    forgotten: 0,
    counts: { waiting: 0, queued: 1, running: 1, done: 1, error: 1, cancelled: 0 },
  },
  {
    name: 'beyond --keep-finished the oldest finished tasks are forgotten',
    keepFinished: 2,
    lives: { a: ['queued', 'done'], b: ['queued', 'done'], c: ['cancelled'], d: ['queued', 'running'] },
    kept: ['b', 'c', 'd'],
    forgotten: 1,
    counts: { done: 1, cancelled: 1, running: 1 },
  },
  {
    name: 'keep-finished 0 forgets every finished task at once, never a running one',
    keepFinished: 0,
    lives: { a: ['queued', 'done'], b: ['queued', 'running'], c: ['error'] },
    kept: ['b'],
    forgotten: 2,
    counts: { done: 0, error: 0, running: 1 },
  },
];

const TERMINAL_STATES = new Set<TaskState>(['done', 'error', 'cancelled']);

for (const c of LIFE_CASES) {
  test(`task table life: ${c.name}`, () => {
    const table = new TaskTable(c.keepFinished);
    for (const [id, states] of Object.entries(c.lives)) {
      const task = table.create(submission(id), [new Uint8Array(8)], null)!;
      for (const state of states) {
        if (TERMINAL_STATES.has(state)) {
          table.settle(task, { status: state === 'done' ? 'ok' : state === 'error' ? 'error' : 'cancelled', buffers: [], finished_ms: Date.now() });
          assert.equal(task.state, state);
          assert.deepEqual(task.argBuffers, [], 'a settled task frees its arguments');
          assert.deepEqual(task.args, { $v: null, $b: [] });
          table.rememberFinished(id);
        } else table.setState(task, state);
      }
    }
    assert.deepEqual([...table.values()].map((t) => t.id).sort(), c.kept);
    assert.equal(table.forgotten, c.forgotten);
    for (const [state, n] of Object.entries(c.counts)) assert.equal(table.counts[state as TaskState], n, `count of ${state}`);
    const total = Object.values(table.counts).reduce((a, b) => a + b, 0);
    assert.equal(total, table.size, 'the counts add up to the tasks kept');
  });
}
