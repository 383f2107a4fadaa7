/**
 * The task state machine: waiting (on dependencies) → queued → running →
 * done | error | cancelled, with retries away from failing engines, the
 * timeout backstop, cancellation, and journalling of submissions and results.
 */
import { relocatePacked, type Message, type PackedRef, type TaskErrorInfo, type TaskResultStatus, type TaskState, type TaskRequest, type TaskSubmission } from '../protocol';
import type { DispatchLoop } from './dispatch';
import type { EngineRegistry } from './engine-registry';
import type { FanOut } from './fan-out';
import { resultRecord, submitRecord } from './journal-records';
import type { Scheduler } from './scheduler';
import type { TaskTable } from './task-table';
import { TERMINAL, errorInfo, errorResult, type ClientInfo, type ControllerContext, type EngineInfo, type StoredResult, type Task } from './types';

/** How long after --resume tasks engines hold that no submission named yet wait for the client's resubmission. */
const UNCLAIMED_KEEP_MS = 120_000;
const UNCLAIMED_MAX = 100_000;

interface Unclaimed {
  engine: EngineInfo;
  /** the engine's result, when it already finished */
  result: Message<'task_result'> | null;
  at: number;
}

export class TaskLifecycle {
  /**
   * After --resume: tasks an engine holds or finished that the journal did not
   * have yet (their submission was inside the journal's last commit window).
   * The client resubmits them; the resubmission is bound to that engine or
   * settled with that result instead of running the task a second time.
   */
  private readonly unclaimed = new Map<string, Unclaimed>();

  constructor(
    private readonly ctx: ControllerContext,
    private readonly tasks: TaskTable,
    private readonly engines: EngineRegistry,
    private readonly fanOut: FanOut,
    private readonly scheduler: Scheduler<Task>,
    private readonly dispatch: DispatchLoop,
  ) {}

  /** Create a task from a submission (already validated) and journal it. Returns null when the id is known. */
  add(sub: TaskSubmission, argBuffers: Uint8Array[], owner: string | null): Task | null {
    const task = this.tasks.create(sub, argBuffers, owner);
    if (task && this.ctx.journal) this.ctx.journal.append(submitRecord(owner, task.spec, task.args, argBuffers));
    return task;
  }

  /** Wire up `after` dependencies and queue the task if it can run. */
  activate(task: Task): void {
    if (this.unclaimed.size > 0 && this.claim(task)) return;
    for (const depId of task.spec.after ?? []) {
      const dep = this.tasks.get(depId);
      if (!dep) continue;
      if (dep.state === 'done') continue;
      if (TERMINAL.has(dep.state)) {
        this.failDependency(task, dep);
        return;
      }
      task.waitingOn += 1;
      (dep.dependents ??= []).push(task.id);
    }
    if (task.waitingOn === 0) this.queue(task);
  }

  /** An engine that came back to a resumed controller holds a task no submission named yet. */
  holdUnknown(engine: EngineInfo, taskId: string): void {
    if (!this.inResumeWindow()) return;
    const prev = this.unclaimed.get(taskId);
    this.keepUnclaimed(taskId, { engine, result: prev?.engine === engine ? prev.result : null, at: Date.now() });
  }

  private inResumeWindow(): boolean {
    return this.ctx.resumedMs !== null && Date.now() - this.ctx.resumedMs < UNCLAIMED_KEEP_MS;
  }

  private keepUnclaimed(taskId: string, entry: Unclaimed): void {
    this.unclaimed.delete(taskId);
    this.unclaimed.set(taskId, entry);
    for (const [id, old] of this.unclaimed) {
      if (this.unclaimed.size <= UNCLAIMED_MAX && Date.now() - old.at < UNCLAIMED_KEEP_MS) break;
      this.unclaimed.delete(id);
    }
  }

  /** A (re)submitted task an engine already holds or finished: bind it to that engine, or settle it with that result. */
  private claim(task: Task): boolean {
    const held = this.unclaimed.get(task.id);
    if (!held) return false;
    this.unclaimed.delete(task.id);
    const { engine, result } = held;
    if (!engine.alive && !result) return false;
    task.engineId = engine.id;
    task.attempt += 1;
    if (result) {
      this.setState(task, 'running');
      this.onEngineResult(engine, result);
      return true;
    }
    this.setState(task, 'running');
    task.startedMs = Date.now();
    this.scheduler.markAssigned(engine, task);
    this.ctx.log(`task ${task.id} was resubmitted while engine ${engine.id} runs it: bound to that engine, not run again`);
    return true;
  }

  setState(task: Task, state: TaskState): void {
    this.tasks.setState(task, state);
  }

  /** Put a task (back) in the queue. */
  queue(task: Task): void {
    this.setState(task, 'queued');
    this.scheduler.enqueue(task);
  }

  /** Take a task off the engine it was on and queue it again. */
  requeue(task: Task): void {
    task.engineId = null;
    this.queue(task);
  }

  sendTask(engine: EngineInfo, task: Task): void {
    task.engineId = engine.id;
    task.attempt += 1;
    const buffers: Uint8Array[] = [];
    const args = relocatePacked(task.args, task.argBuffers, buffers);
    const s = task.spec;
    const content: Record<string, unknown> = { task_id: task.id, kind: s.kind, args, attempt: task.attempt };
    if (s.module !== undefined) content.module = s.module;
    if (s.export !== undefined) content.export = s.export;
    if (s.source !== undefined) content.source = s.source;
    if (s.timeout_ms !== undefined) content.timeout_ms = s.timeout_ms;
    if (task.reservedGpus && task.reservedGpus.length) content.gpus = task.reservedGpus;
    // built field by field from a submission validated on arrival (submission.ts)
    engine.peer.outbox.push('task_request', content as unknown as TaskRequest, buffers);
  }

  onTaskStarted(engine: EngineInfo, taskId: string): void {
    const task = this.tasks.get(taskId);
    if (!task || TERMINAL.has(task.state) || task.engineId !== engine.id) return;
    this.setState(task, 'running');
    task.startedMs = Date.now();
    const timeout = task.spec.timeout_ms;
    if (timeout && timeout > 0) {
      task.timer = setTimeout(() => this.onTimeoutBackstop(task, engine), timeout + this.ctx.opts.timeoutGraceMs);
      task.timer.unref();
    }
    this.fanOut.notifyStatus(task);
  }

  private onTimeoutBackstop(task: Task, engine: EngineInfo): void {
    task.timer = null;
    if (TERMINAL.has(task.state) || task.engineId !== engine.id) return;
    if (engine.alive) engine.peer.outbox.push('task_cancel', { task_id: task.id });
    const error = errorInfo('TaskTimeout', `task ${task.id} exceeded its timeout of ${task.spec.timeout_ms} ms on engine ${engine.id} (${engine.host}) and the engine did not stop it`, engine);
    this.finish(task, errorResult(error, { engine_id: engine.id, started_ms: task.startedMs ?? undefined }));
  }

  onEngineResult(engine: EngineInfo, msg: Message<'task_result'>): void {
    const c = msg.content;
    const taskId = String(c.task_id);
    const task = this.tasks.get(taskId);
    this.scheduler.release(engine, task, taskId);
    engine.tasksDone += 1;
    this.dispatch.request();
    if (!task && this.inResumeWindow()) this.keepUnclaimed(taskId, { engine, result: msg, at: Date.now() });
    if (!task || TERMINAL.has(task.state)) return;
    const status: TaskResultStatus = c.status === 'ok' || c.status === 'cancelled' ? c.status : 'error';
    if (task.engineId !== engine.id && !this.acceptLateResult(task, status)) return;
    this.clearTimer(task);
    const buffers: Uint8Array[] = [];
    const parsed = this.readResult(engine, task, msg, buffers);
    if ('bad' in parsed) {
      this.retryOrFail(task, engine, parsed.bad);
      return;
    }
    if (status === 'error' && task.retriesLeft > 0 && !task.cancelRequested) {
      this.retryOrFail(task, engine, parsed.error!);
      return;
    }
    this.finish(task, { status, value: parsed.value, buffers, error: parsed.error, engine_id: engine.id, started_ms: c.started_ms ?? task.startedMs ?? undefined, finished_ms: c.finished_ms ?? Date.now() });
  }

  /**
   * The value and error of a task_result, its value's buffers moved into
   * `buffers`. A result the controller cannot relay (a malformed packed value
   * or error) is logged with the peer address and turned into a BadResult
   * error naming the engine and host, so the task fails or retries instead
   * of staying "running".
   */
  private readResult(engine: EngineInfo, task: Task, msg: Message<'task_result'>, buffers: Uint8Array[]): { value?: PackedRef; error?: TaskErrorInfo } | { bad: TaskErrorInfo } {
    const c = msg.content;
    try {
      const value = c.value !== undefined && c.value !== null ? relocatePacked(c.value, msg.buffers, buffers) : undefined;
      if (c.error !== undefined && c.error !== null && (typeof c.error !== 'object' || Array.isArray(c.error))) {
        throw new Error(`error is ${Array.isArray(c.error) ? 'an array' : typeof c.error}, not an object`);
      }
      const error = c.error ? { ...c.error, engine_id: c.error.engine_id ?? engine.id, host: c.error.host ?? engine.host } : undefined;
      if (c.status !== 'ok' && c.status !== 'cancelled' && !error) return { value, error: errorInfo('TaskError', `engine ${engine.id} (${engine.host}) reported status ${JSON.stringify(c.status)} for task ${task.id} without an error`, engine) };
      return { value, error };
    } catch (err) {
      buffers.length = 0;
      const detail = (err as Error).message;
      this.ctx.log(`bad task_result for task ${task.id} from engine ${engine.id} (${engine.host}) at ${engine.peer.address}: ${detail}`);
      return { bad: errorInfo('BadResult', `engine ${engine.id} (${engine.host}) sent a malformed result for task ${task.id}: ${detail}`, engine) };
    }
  }

  /**
   * A late result from an engine the task has moved away from: a success
   * settles it (and stops the other copy), a failure is ignored.
   */
  private acceptLateResult(task: Task, status: TaskResultStatus): boolean {
    if (status !== 'ok') return false;
    const other = task.engineId !== null ? this.engines.get(task.engineId) : undefined;
    if (other && other.assigned.has(task.id)) other.peer.outbox.push('task_cancel', { task_id: task.id });
    return true;
  }

  retryOrFail(task: Task, engine: EngineInfo, error: TaskErrorInfo): void {
    if (task.retriesLeft > 0 && !task.cancelRequested) {
      task.retriesLeft -= 1;
      (task.blacklist ??= new Set()).add(engine.id);
      task.engineId = null;
      this.ctx.log(`retrying task ${task.id} (attempt ${task.attempt + 1}) away from engine ${engine.id}: ${error.ename}: ${error.evalue}`);
      this.queue(task);
      this.dispatch.request();
      return;
    }
    this.finish(task, errorResult(error, { engine_id: engine.id, started_ms: task.startedMs ?? undefined }));
  }

  clearTimer(task: Task): void {
    if (task.timer) clearTimeout(task.timer);
    task.timer = null;
  }

  finish(task: Task, result: StoredResult): void {
    if (TERMINAL.has(task.state)) return;
    this.clearTimer(task);
    this.tasks.settle(task, result);
    this.ctx.results.admit(task, (spill) => this.ctx.journal?.append(resultRecord(task.id, result, spill)));
    this.fanOut.sendResultToOwner(task);
    this.fanOut.notifyStatus(task, true);
    this.releaseDependents(task);
    this.tasks.rememberFinished(task.id);
  }

  private failDependency(task: Task, dep: Task): void {
    const error = errorInfo('DependencyError', `task ${task.id} depends on task ${dep.id}, which ended with status ${dep.result!.status}`);
    this.finish(task, errorResult(error));
  }

  private releaseDependents(task: Task): void {
    if (!task.dependents) return;
    const dependents = task.dependents;
    task.dependents = null;
    for (const id of dependents) {
      const dep = this.tasks.get(id);
      if (!dep || dep.state !== 'waiting') continue;
      if (task.state !== 'done') {
        this.failDependency(dep, task);
        continue;
      }
      dep.waitingOn -= 1;
      if (dep.waitingOn === 0) {
        this.queue(dep);
        this.dispatch.request();
      }
    }
  }

  cancel(ids: string[]): { cancelled: string[]; unknown: string[] } {
    const cancelled: string[] = [];
    const unknown: string[] = [];
    for (const id of ids) {
      const task = this.tasks.get(id);
      if (!task) {
        unknown.push(id);
        continue;
      }
      if (TERMINAL.has(task.state)) continue;
      this.cancelOne(task);
      cancelled.push(id);
    }
    return { cancelled, unknown };
  }

  private cancelOne(task: Task): void {
    task.cancelRequested = true;
    const engine = task.engineId !== null ? this.engines.get(task.engineId) : undefined;
    if (engine && engine.assigned.has(task.id)) engine.peer.outbox.push('task_cancel', { task_id: task.id });
    const error = errorInfo('TaskCancelled', `task ${task.id} was cancelled${task.state === 'running' ? ` while running on engine ${task.engineId}` : ''}`, engine);
    this.finish(task, { status: 'cancelled', error, buffers: [], engine_id: engine?.id, finished_ms: Date.now() });
  }

  /** A resubmission after a reconnect: route the result to the client that asks now. */
  adoptOwnership(taskId: string, client: ClientInfo): void {
    const task = this.tasks.get(taskId);
    if (!task) return;
    task.owner = client.session;
    if (task.result) this.fanOut.sendResultToOwner(task);
  }
}
