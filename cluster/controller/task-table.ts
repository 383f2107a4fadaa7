/**
 * Every task the controller knows, with a count per state, and the bound on
 * finished tasks kept in memory (--keep-finished).
 */
import type { TaskState, TaskSubmission } from '../protocol';
import { hasResourceRequest } from './submission';
import { TERMINAL, stateForStatus, type StoredResult, type Task } from './types';

export class TaskTable {
  private readonly tasks = new Map<string, Task>();
  readonly counts: Record<TaskState, number> = { waiting: 0, queued: 0, running: 0, done: 0, error: 0, cancelled: 0 };
  /** finished task ids, oldest first (head index instead of shift for O(1)) */
  private finishedOrder: string[] = [];
  private finishedHead = 0;
  forgotten = 0;

  constructor(
    private readonly keepFinished: number,
    /** a finished task is being forgotten (its result's bytes can go) */
    private readonly onForget: (task: Task) => void = () => {},
  ) {}

  get size(): number {
    return this.tasks.size;
  }

  get(id: string): Task | undefined {
    return this.tasks.get(id);
  }

  has(id: string): boolean {
    return this.tasks.has(id);
  }

  values(): IterableIterator<Task> {
    return this.tasks.values();
  }

  /** Create a task in state 'waiting' from a submission (already validated). Returns null when the id is known. */
  create(sub: TaskSubmission, argBuffers: Uint8Array[], owner: string | null): Task | null {
    if (this.tasks.has(sub.task_id)) return null;
    const { args, ...spec } = sub;
    const task: Task = {
      id: sub.task_id,
      state: 'waiting',
      spec,
      args,
      argBuffers,
      owner,
      engineId: null,
      attempt: 0,
      retriesLeft: Math.max(0, Math.floor(sub.retries ?? 0)),
      lostOn: null,
      waitingOn: 0,
      dependents: null,
      submittedMs: Date.now(),
      startedMs: null,
      result: null,
      timer: null,
      cancelRequested: false,
      resources: hasResourceRequest(sub.resources) ? sub.resources! : null,
      allowed: Array.isArray(sub.targets) ? new Set(sub.targets) : null,
      blacklist: null,
      reservedGpus: null,
    };
    this.tasks.set(task.id, task);
    this.counts.waiting += 1;
    return task;
  }

  setState(task: Task, state: TaskState): void {
    this.counts[task.state] -= 1;
    task.state = state;
    this.counts[state] += 1;
  }

  /** Record a task's result and free its arguments, which are no longer needed (rememberFinished follows once it is announced). */
  settle(task: Task, result: StoredResult): void {
    task.result = result;
    this.setState(task, stateForStatus(result.status));
    task.argBuffers = [];
    task.args = { $v: null, $b: [] };
  }

  /** Bound memory on very long runs: forget the oldest finished tasks beyond --keep-finished. */
  rememberFinished(id: string): void {
    this.finishedOrder.push(id);
    while (this.finishedOrder.length - this.finishedHead > this.keepFinished) {
      const old = this.tasks.get(this.finishedOrder[this.finishedHead]);
      this.finishedHead += 1;
      if (old && TERMINAL.has(old.state)) {
        this.onForget(old);
        this.tasks.delete(old.id);
        this.counts[old.state] -= 1;
        this.forgotten += 1;
      }
    }
    if (this.finishedHead > 65536 && this.finishedHead * 2 > this.finishedOrder.length) {
      this.finishedOrder = this.finishedOrder.slice(this.finishedHead);
      this.finishedHead = 0;
    }
  }
}
