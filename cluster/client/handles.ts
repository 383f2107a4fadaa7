/**
 * Handles returned by submissions: awaitable, with status, progress, cancel(),
 * live stdout/stderr and report() subscriptions. A task's result is applied
 * exactly once (later duplicates, e.g. after a controller restart, are ignored).
 */
import type { TaskErrorInfo } from '../protocol';

export type TaskStatus = 'submitted' | 'waiting' | 'queued' | 'running' | 'done' | 'error' | 'cancelled';

export interface Progress {
  done: number;
  total: number;
  /** seconds since submission (until the last task finished) */
  elapsed: number;
}

export type StreamListener = (text: string, engineId: number | null, taskId: string) => void;
export type ReportListener = (data: Record<string, unknown>, engineId: number | null, taskId: string) => void;

/** A task that failed remotely: names the task, engine and host. */
export class RemoteTaskError extends Error {
  readonly taskId: string;
  readonly ename: string;
  readonly evalue: string;
  readonly traceback: string[];
  readonly engineId: number | null;
  readonly host: string | null;

  constructor(taskId: string, info: TaskErrorInfo, engineId: number | null) {
    const engine = info.engine_id ?? engineId;
    const where = engine !== null && engine !== undefined ? ` on engine ${engine}${info.host ? ` (host ${info.host})` : ''}` : '';
    super(info.ename === 'TaskCancelled' ? `task ${taskId} was cancelled${where}: ${info.evalue}` : `task ${taskId} failed${where}: ${info.ename}: ${info.evalue}`);
    this.name = info.ename === 'TaskCancelled' ? 'TaskCancelledError' : 'RemoteTaskError';
    this.taskId = taskId;
    this.ename = info.ename;
    this.evalue = info.evalue;
    this.traceback = info.traceback ?? [];
    this.engineId = engine ?? null;
    this.host = info.host ?? null;
    if (this.traceback.length) this.stack = `${this.name}: ${this.message}\n--- remote traceback ---\n${this.traceback.join('\n')}`;
  }

  get cancelled(): boolean {
    return this.ename === 'TaskCancelled';
  }
}

/** Several tasks of one group failed. */
export class TaskGroupError extends Error {
  constructor(readonly errors: RemoteTaskError[], total: number) {
    super(`${errors.length} of ${total} tasks failed; first: ${errors[0]?.message}`);
    this.name = 'TaskGroupError';
  }
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: RemoteTaskError };

/** What a handle needs from its cluster. */
export interface HandleOwner {
  cancelTasks(taskIds: string[]): Promise<void>;
}

const FINAL: ReadonlySet<TaskStatus> = new Set(['done', 'error', 'cancelled']);

export class TaskHandle<T = unknown> implements PromiseLike<T> {
  status: TaskStatus = 'submitted';
  engineId: number | null = null;
  readonly submittedAt = Date.now();
  finishedAt: number | null = null;
  /** everything the task printed so far */
  stdout = '';
  stderr = '';
  /** the last report() data the task published */
  lastReport: Record<string, unknown> | null = null;
  private outcome: Outcome<T> | null = null;
  private settle!: (o: Outcome<T>) => void;
  /** never rejects: awaiting the handle maps it to value / thrown error */
  readonly settled: Promise<Outcome<T>> = new Promise((resolve) => (this.settle = resolve));
  // Created on first use: a map of thousands of tasks rarely listens to each one.
  private stdoutListeners: Set<StreamListener> | null = null;
  private stderrListeners: Set<StreamListener> | null = null;
  private reportListeners: Set<ReportListener> | null = null;
  private statusListeners: Set<(status: TaskStatus) => void> | null = null;

  constructor(
    readonly taskId: string,
    private readonly owner: HandleOwner,
  ) {}

  get isDone(): boolean {
    return this.outcome !== null;
  }

  get progress(): Progress {
    return { done: this.outcome ? 1 : 0, total: 1, elapsed: ((this.finishedAt ?? Date.now()) - this.submittedAt) / 1000 };
  }

  /** The error, if it failed (after it finished). */
  get error(): RemoteTaskError | null {
    return this.outcome && !this.outcome.ok ? this.outcome.error : null;
  }

  then<R1 = T, R2 = never>(onOk?: ((v: T) => R1 | PromiseLike<R1>) | null, onErr?: ((e: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.settled.then((o) => (o.ok ? o.value : Promise.reject(o.error))).then(onOk, onErr);
  }

  catch<R = never>(onErr: (e: unknown) => R | PromiseLike<R>): Promise<T | R> {
    return this.then(undefined, onErr);
  }

  /** Cancel the task: dropped if queued, its worker thread terminated if running. */
  async cancel(): Promise<void> {
    if (this.isDone) return;
    await this.owner.cancelTasks([this.taskId]);
  }

  onStdout(listener: StreamListener): this {
    (this.stdoutListeners ??= new Set()).add(listener);
    return this;
  }

  onStderr(listener: StreamListener): this {
    (this.stderrListeners ??= new Set()).add(listener);
    return this;
  }

  onReport(listener: ReportListener): this {
    (this.reportListeners ??= new Set()).add(listener);
    return this;
  }

  onStatus(listener: (status: TaskStatus) => void): this {
    (this.statusListeners ??= new Set()).add(listener);
    return this;
  }

  /** @internal */
  _stream(name: 'stdout' | 'stderr', text: string, engineId: number | null): void {
    if (name === 'stdout') this.stdout += text;
    else this.stderr += text;
    for (const l of (name === 'stdout' ? this.stdoutListeners : this.stderrListeners) ?? []) l(text, engineId, this.taskId);
  }

  /** @internal */
  _report(data: Record<string, unknown>, engineId: number | null): void {
    this.lastReport = data;
    for (const l of this.reportListeners ?? []) l(data, engineId, this.taskId);
  }

  /** @internal */
  _status(status: TaskStatus, engineId?: number | null): void {
    if (this.isDone || FINAL.has(status)) return; // final states come with the result
    if (engineId !== undefined && engineId !== null) this.engineId = engineId;
    if (status === this.status) return;
    this.status = status;
    for (const l of this.statusListeners ?? []) l(status);
  }

  /** @internal Returns false when the task already had its result (a duplicate). */
  _resolve(outcome: Outcome<T>, engineId: number | null): boolean {
    if (this.outcome) return false;
    this.outcome = outcome;
    if (engineId !== null) this.engineId = engineId;
    this.finishedAt = Date.now();
    this.status = outcome.ok ? 'done' : outcome.error.cancelled ? 'cancelled' : 'error';
    for (const l of this.statusListeners ?? []) l(this.status);
    this.settle(outcome);
    return true;
  }
}

/** A group of tasks (map, run on all engines). Awaiting it gives the values in submission order. */
export class GroupHandle<T = unknown> implements PromiseLike<T[]> {
  readonly submittedAt = Date.now();

  constructor(
    readonly tasks: TaskHandle<T>[],
    private readonly owner: HandleOwner,
  ) {}

  get taskIds(): string[] {
    return this.tasks.map((t) => t.taskId);
  }

  get progress(): Progress {
    let done = 0;
    let last = 0;
    for (const t of this.tasks) {
      if (t.isDone) {
        done += 1;
        last = Math.max(last, t.finishedAt!);
      }
    }
    const end = done === this.tasks.length && last ? last : Date.now();
    return { done, total: this.tasks.length, elapsed: (end - this.submittedAt) / 1000 };
  }

  /** 'running' until every task finished, then 'done', 'error' (some failed) or 'cancelled'. */
  get status(): 'running' | 'done' | 'error' | 'cancelled' {
    if (this.tasks.some((t) => !t.isDone)) return 'running';
    if (this.tasks.some((t) => t.status === 'error')) return 'error';
    if (this.tasks.some((t) => t.status === 'cancelled')) return 'cancelled';
    return 'done';
  }

  /** Resolves when every task finished; the values in order, or a TaskGroupError naming the failures. */
  then<R1 = T[], R2 = never>(onOk?: ((v: T[]) => R1 | PromiseLike<R1>) | null, onErr?: ((e: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return Promise.all(this.tasks.map((t) => t.settled))
      .then((outcomes) => {
        const errors = outcomes.filter((o): o is { ok: false; error: RemoteTaskError } => !o.ok).map((o) => o.error);
        if (errors.length === 1 && this.tasks.length === 1) throw errors[0];
        if (errors.length) throw new TaskGroupError(errors, this.tasks.length);
        return outcomes.map((o) => (o as { ok: true; value: T }).value);
      })
      .then(onOk, onErr);
  }

  catch<R = never>(onErr: (e: unknown) => R | PromiseLike<R>): Promise<T[] | R> {
    return this.then(undefined, onErr);
  }

  /** Every outcome, failures included, in order. */
  async settledResults(): Promise<PromiseSettledResult<T>[]> {
    const outcomes = await Promise.all(this.tasks.map((t) => t.settled));
    return outcomes.map((o) => (o.ok ? { status: 'fulfilled', value: o.value } : { status: 'rejected', reason: o.error }));
  }

  /** Values as tasks complete (fastest first); a failed task throws when reached. */
  async *asCompleted(): AsyncGenerator<T, void, undefined> {
    // Outcomes queue up as tasks settle (O(n) overall; a Promise.race per step would be O(n²)).
    const ready: Outcome<T>[] = [];
    let wake: (() => void) | null = null;
    for (const t of this.tasks) {
      void t.settled.then((o) => {
        ready.push(o);
        wake?.();
      });
    }
    for (let yielded = 0; yielded < this.tasks.length; yielded++) {
      while (ready.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      const o = ready.shift()!;
      if (!o.ok) throw o.error;
      yield o.value;
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<T, void, undefined> {
    return this.asCompleted();
  }

  async cancel(): Promise<void> {
    const open = this.tasks.filter((t) => !t.isDone).map((t) => t.taskId);
    if (open.length) await this.owner.cancelTasks(open);
  }

  onStdout(listener: StreamListener): this {
    for (const t of this.tasks) t.onStdout(listener);
    return this;
  }

  onStderr(listener: StreamListener): this {
    for (const t of this.tasks) t.onStderr(listener);
    return this;
  }

  onReport(listener: ReportListener): this {
    for (const t of this.tasks) t.onReport(listener);
    return this;
  }

  /** Called with the group's progress each time one of its tasks finishes (for progress bars). */
  onProgress(listener: (progress: Progress) => void): this {
    // Counted as tasks finish (recomputing `progress` each time would be O(n²) over a big map).
    let { done } = this.progress;
    let last = 0;
    for (const t of this.tasks) if (t.isDone) last = Math.max(last, t.finishedAt!);
    const total = this.tasks.length;
    for (const t of this.tasks) {
      if (t.isDone) continue;
      t.onStatus((status) => {
        if (!FINAL.has(status)) return;
        done += 1;
        last = Math.max(last, t.finishedAt ?? Date.now());
        const end = done === total ? last : Date.now();
        listener({ done, total, elapsed: (end - this.submittedAt) / 1000 });
      });
    }
    return this;
  }
}
