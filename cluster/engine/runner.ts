/**
 * TaskRunner: runs tasks in a pool of worker threads, one task per worker at a
 * time, at most `slots` at once; more are queued. A worker is reused between
 * tasks (a fresh thread per task would cost ~100 ms), and replaced when a task is
 * cancelled (worker.terminate()), times out, or crashes its thread (process.exit,
 * uncaught error, out of memory) — the engine itself stays up.
 */
import { receiveMessageOnPort, type Worker } from 'node:worker_threads';
import * as os from 'node:os';
import { AWAIT_RESULT_SPIN_US, TaskPace } from './pacing';
import { StreamCoalescer } from './stream-coalescer';
import { MEMORY_WATCH_MS, tasksOverLimit } from './memory-watch';
import { detachWorker, emptySlot, sampleCpuPercent, startWorker, type AssignedTask, type Slot } from './worker-slot';
import type { RunMessage, RunnableTask, TaskErrorInfo, WorkerToEngine } from './worker-messages';

export type { RunnableTask };

export type TaskOutcome =
  | { status: 'ok'; value: unknown }
  | { status: 'error'; error: TaskErrorInfo }
  | { status: 'cancelled'; error: TaskErrorInfo };

export interface TaskUsage {
  task_id: string;
  slot: number;
  /** CPU of the task's thread since the previous usage() call, percent of one core */
  cpu_percent: number;
  /** V8 heap in use by the task's worker (threads share the process RSS) */
  memory_bytes: number;
  elapsed_ms: number;
}

export interface RunnerEvents {
  onStarted?(taskId: string, slot: number): void;
  onStream?(taskId: string, name: 'stdout' | 'stderr', text: string): void;
  onReport?(taskId: string, data: Record<string, unknown>): void;
  onResult(taskId: string, outcome: TaskOutcome): void;
}

export interface TaskRunnerOptions {
  slots: number;
  host?: string;
  engineId?: () => number | null;
  /** per-worker heap limit; a task exceeding it fails with an out-of-memory error */
  maxTaskMemoryMb?: number;
  /** start all workers now instead of at the first task */
  prewarm?: boolean;
  /** how long task output is coalesced before it is emitted */
  streamFlushMs?: number;
}

export class TaskRunner {
  private readonly slots: Slot[];
  private readonly queue: RunnableTask[] = [];
  private readonly streams: StreamCoalescer;
  private closed = false;
  private readonly host: string;
  /** values broadcast to this engine; every worker, present and future, gets them */
  private readonly sharedValues = new Map<string, unknown>();
  private readonly pace = new TaskPace();

  constructor(
    private readonly opts: TaskRunnerOptions,
    private readonly events: RunnerEvents,
  ) {
    if (!Number.isInteger(opts.slots) || opts.slots < 1) throw new RangeError(`slots must be a positive integer, got ${opts.slots}`);
    this.host = opts.host ?? os.hostname();
    this.streams = new StreamCoalescer((taskId, name, text) => this.events.onStream?.(taskId, name, text), opts.streamFlushMs);
    this.slots = Array.from({ length: opts.slots }, (_, index) => emptySlot(index));
    if (opts.prewarm) for (const slot of this.slots) this.spawnWorker(slot);
    if (opts.maxTaskMemoryMb) {
      this.idleRss = process.memoryUsage.rss();
      this.memoryWatch = setInterval(() => this.watchMemory(opts.maxTaskMemoryMb!), MEMORY_WATCH_MS);
      this.memoryWatch.unref();
    }
  }

  /** the engine's RSS when it last ran no task (the level task memory is counted from) */
  private idleRss = 0;
  private memoryWatch: NodeJS.Timeout | null = null;

  /** Terminate the tasks whose whole memory (heap + Buffers, or their share of the RSS growth) is over --task-memory-mb. */
  private watchMemory(limitMb: number): void {
    const rss = process.memoryUsage.rss();
    if (!this.slots.some((s) => s.assigned.length > 0)) {
      this.idleRss = rss;
      return;
    }
    for (const { slot, entry, bytes, how } of tasksOverLimit(this.slots, rss, this.idleRss, limitMb * 1024 * 1024, Date.now())) {
      const used = `${Math.round(bytes / (1024 * 1024))} MB`;
      const measured = how === 'reported' ? 'V8 heap + Buffers/ArrayBuffers' : "the engine's RSS growth while it ran";
      this.stopCurrent(slot, {
        status: 'error',
        error: { ename: 'TaskOutOfMemory', evalue: `task ${entry.task.task_id} used ${used} (${measured}), over the engine's task memory limit of ${limitMb} MB (--task-memory-mb); its worker was terminated`, traceback: [] },
      });
    }
  }

  get slotCount(): number {
    return this.slots.length;
  }

  /** Tasks running or queued. */
  get load(): number {
    return this.queue.length + this.slots.reduce((n, s) => n + s.assigned.length, 0);
  }

  submit(task: RunnableTask): void {
    if (this.closed) throw new Error('TaskRunner is closed');
    this.queue.push(task);
    this.scheduleDispatch();
  }

  /** Cancel a queued or running task. Returns false when the task is unknown (already finished). */
  cancel(taskId: string, reason = 'cancelled by request'): boolean {
    const cancelled: TaskOutcome = { status: 'cancelled', error: { ename: 'TaskCancelled', evalue: reason, traceback: [] } };
    const queuedAt = this.queue.findIndex((t) => t.task_id === taskId);
    if (queuedAt >= 0) {
      this.queue.splice(queuedAt, 1);
      this.events.onResult(taskId, cancelled);
      return true;
    }
    for (const slot of this.slots) {
      const at = slot.assigned.findIndex((a) => a.task.task_id === taskId);
      if (at < 0) continue;
      if (at === 0) {
        this.stopCurrent(slot, cancelled);
      } else {
        // Not started yet in that worker: have it skip the task (see onDone for the race).
        slot.assigned.splice(at, 1);
        slot.worker?.postMessage({ t: 'skip', taskId });
        this.streams.flush(taskId);
        this.events.onResult(taskId, cancelled);
      }
      return true;
    }
    return false;
  }

  /** Every task this runner holds: running, handed to a worker, or waiting in its queue. */
  heldTaskIds(): string[] {
    return [...this.runningTaskIds(), ...this.queue.map((t) => t.task_id)];
  }

  /** True when the task is running or waiting here (a second request for it must not run it again). */
  holds(taskId: string): boolean {
    return this.queue.some((t) => t.task_id === taskId) || this.slots.some((s) => s.assigned.some((a) => a.task.task_id === taskId));
  }

  runningTaskIds(): string[] {
    const ids: string[] = [];
    for (const slot of this.slots) for (const a of slot.assigned) ids.push(a.task.task_id);
    return ids;
  }

  /** Per-task CPU (from the worker thread's /proc stat) and heap, for the resource stream. */
  usage(): TaskUsage[] {
    const now = Date.now();
    const out: TaskUsage[] = [];
    for (const slot of this.slots) {
      // The thread's CPU since the previous sample is charged to the task running now.
      const cpuPercent = sampleCpuPercent(slot, now);
      const current = slot.assigned[0];
      if (!current) continue;
      out.push({
        task_id: current.task.task_id,
        slot: slot.index,
        cpu_percent: Math.round(cpuPercent * 10) / 10,
        memory_bytes: current.heapUsed,
        elapsed_ms: now - (current.startedAt ?? now),
      });
    }
    return out;
  }

  /** Stop all workers; running and queued tasks end as cancelled. */
  async close(reason = 'engine shutting down'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.memoryWatch) clearInterval(this.memoryWatch);
    const error = { ename: 'TaskCancelled', evalue: reason, traceback: [] };
    for (const task of this.queue.splice(0)) this.events.onResult(task.task_id, { status: 'cancelled', error });
    const exits: Promise<unknown>[] = [];
    for (const slot of this.slots) {
      for (const a of slot.assigned.splice(0)) {
        if (a.timer) clearTimeout(a.timer);
        this.streams.flush(a.task.task_id);
        this.events.onResult(a.task.task_id, { status: 'cancelled', error });
      }
      if (slot.worker) exits.push(slot.worker.terminate());
      detachWorker(slot);
    }
    this.streams.flush();
    await Promise.allSettled(exits);
  }

  private dispatchScheduled = false;

  /** Dispatch once per event-loop turn, so a burst of submissions goes out in few messages. */
  private scheduleDispatch(): void {
    if (this.dispatchScheduled) return;
    this.dispatchScheduled = true;
    setImmediate(() => {
      this.dispatchScheduled = false;
      this.dispatch();
    });
  }

  /**
   * True when a worker still has pipelined tasks that usually take well under a
   * millisecond: another result follows almost at once (the engine then sends
   * results in bigger batches).
   */
  get moreResultsImminent(): boolean {
    return this.tasksAreShort && this.slots.some((slot) => slot.assigned.length > 0);
  }

  /** True when tasks here usually take well under a millisecond. */
  get tasksAreShort(): boolean {
    return this.pace.tasksAreShort;
  }

  /** Hand queued tasks to the workers now instead of at the end of this event-loop turn. */
  dispatchNow(): void {
    if (this.queue.length > 0) this.dispatch();
  }

  private dispatch(): void {
    if (this.closed || this.queue.length === 0) return;
    const batches = new Map<Slot, RunnableTask[]>();
    const give = (slot: Slot): void => {
      const task = this.queue.shift()!;
      const batch = batches.get(slot) ?? [];
      batch.push(task);
      batches.set(slot, batch);
      const entry: AssignedTask = { task, startedAt: null, heapUsed: slot.lastHeapUsed, memory: 0, memoryAt: 0, timer: null };
      slot.assigned.push(entry);
      if (slot.assigned.length === 1) this.markStarted(slot, entry);
    };
    // One task to every idle slot first, then (short tasks only) top up round-robin.
    for (const slot of this.slots) if (slot.assigned.length === 0 && this.queue.length > 0) give(slot);
    const depth = this.pace.pipelineDepth(this.queue.length, this.slots.length);
    if (depth > 1) {
      // Only workers down to a quarter of their pipeline are topped up, and then to the full
      // depth: one message per refill rather than one per finished task or arriving request.
      const refill = this.slots.filter((slot) => slot.assigned.length <= depth / 4);
      for (let level = 1; level < depth && this.queue.length > 0; level++) {
        for (const slot of refill) if (slot.assigned.length <= level && this.queue.length > 0) give(slot);
      }
    }
    for (const [slot, tasks] of batches) this.send(slot, tasks);
    if (batches.size === 1) this.awaitImminentResult([...batches.keys()][0]);
  }

  private send(slot: Slot, tasks: RunnableTask[]): void {
    const worker = slot.worker ?? this.spawnWorker(slot);
    const engineId = this.opts.engineId?.() ?? null;
    const messages: RunMessage[] = tasks.map((task) => ({ ...task, engine_id: engineId }));
    try {
      worker.postMessage({ t: 'run', tasks: messages });
    } catch (err) {
      // One task's arguments could not be cloned: send them one by one to fail only that task.
      if (messages.length > 1) {
        for (const m of messages) {
          try {
            worker.postMessage({ t: 'run', tasks: [m] });
          } catch (e) {
            this.failUnsendable(slot, m.task_id, e as Error);
          }
        }
      } else this.failUnsendable(slot, messages[0].task_id, err as Error);
    }
  }

  private failUnsendable(slot: Slot, taskId: string, err: Error): void {
    const at = slot.assigned.findIndex((a) => a.task.task_id === taskId);
    if (at < 0) return;
    const [entry] = slot.assigned.splice(at, 1);
    if (entry.timer) clearTimeout(entry.timer);
    this.events.onResult(taskId, {
      status: 'error',
      error: { ename: 'SerializationError', evalue: `task arguments cannot be sent to the worker: ${err.message}`, traceback: [] },
    });
    if (at === 0 && slot.assigned[0]) this.markStarted(slot, slot.assigned[0]);
  }

  private markStarted(slot: Slot, entry: AssignedTask): void {
    entry.startedAt = Date.now();
    const { task } = entry;
    const timeoutMs = task.timeout_ms;
    if (timeoutMs && timeoutMs > 0) {
      entry.timer = setTimeout(() => {
        if (slot.assigned[0] !== entry) return;
        this.stopCurrent(slot, {
          status: 'error',
          error: { ename: 'TaskTimeout', evalue: `task ${task.task_id} exceeded its timeout of ${timeoutMs} ms`, traceback: [] },
        });
      }, timeoutMs);
    }
    this.events.onStarted?.(task.task_id, slot.index);
  }

  /**
   * End the current task of a slot by terminating its worker (cancel, timeout).
   * Tasks queued behind it in that worker go back to the front of the queue.
   */
  private stopCurrent(slot: Slot, outcome: TaskOutcome): void {
    const current = slot.assigned.shift();
    if (!current) return;
    this.recordRunTime(Date.now() - (current.startedAt ?? Date.now()));
    this.requeueAssigned(slot);
    this.replaceWorker(slot);
    this.finish(current, outcome);
    this.scheduleDispatch();
  }

  private requeueAssigned(slot: Slot): void {
    const rest = slot.assigned.splice(0);
    for (const a of rest) if (a.timer) clearTimeout(a.timer);
    this.queue.unshift(...rest.map((a) => a.task));
  }

  private replaceWorker(slot: Slot): void {
    const worker = slot.worker;
    detachWorker(slot);
    if (worker) void worker.terminate();
    if (!this.closed) this.spawnWorker(slot);
  }

  /**
   * The only task on this engine is short and was just handed to an idle
   * worker: read the worker's port for its result for up to
   * AWAIT_RESULT_SPIN_US rather than sleep until the port wakes us.
   */
  private awaitImminentResult(slot: Slot): void {
    if (!this.tasksAreShort || this.queue.length > 0 || this.load !== 1 || slot.assigned.length !== 1) return;
    const port = slot.fromWorker;
    const worker = slot.worker;
    if (!port || !worker) return;
    const deadline = process.hrtime.bigint() + BigInt(AWAIT_RESULT_SPIN_US * 1000);
    while (slot.assigned.length === 1 && slot.fromWorker === port && process.hrtime.bigint() < deadline) {
      const received = receiveMessageOnPort(port);
      if (received) this.onWorkerMessage(slot, worker, received.message as WorkerToEngine);
    }
  }

  /** Messages the worker sent before it exited, read before its exit is handled. */
  private drainWorkerPort(slot: Slot, worker: Worker): void {
    const port = slot.fromWorker;
    if (!port) return;
    for (let received = receiveMessageOnPort(port); received && slot.worker === worker; received = receiveMessageOnPort(port)) {
      this.onWorkerMessage(slot, worker, received.message as WorkerToEngine);
    }
  }

  private recordRunTime(ms: number): void {
    this.pace.record(ms);
  }

  private finish(entry: AssignedTask, outcome: TaskOutcome): void {
    if (entry.timer) clearTimeout(entry.timer);
    this.streams.flush(entry.task.task_id);
    this.events.onResult(entry.task.task_id, outcome);
  }

  private spawnWorker(slot: Slot): Worker {
    const worker = startWorker(slot, this.host, this.opts.maxTaskMemoryMb);
    let crashError: Error | null = null;
    slot.fromWorker!.on('message', (msg: WorkerToEngine) => this.onWorkerMessage(slot, worker, msg));
    worker.on('error', (err) => {
      crashError = err;
    });
    worker.on('exit', (code) => this.onWorkerExit(slot, worker, code, crashError));
    for (const [name, value] of this.sharedValues) worker.postMessage({ t: 'share', name, value });
    return worker;
  }

  private onWorkerMessage(slot: Slot, worker: Worker, msg: WorkerToEngine): void {
    if (slot.worker !== worker) return; // a terminated worker's last words
    switch (msg.t) {
      case 'ready':
        slot.tid = msg.tid;
        slot.lastHeapUsed = msg.heapUsed;
        if (slot.assigned[0] && slot.assigned[0].heapUsed === 0) slot.assigned[0].heapUsed = msg.heapUsed;
        return;
      case 'stream':
        this.streams.add(msg.taskId, msg.name, msg.text);
        return;
      case 'hpcdl:report':
        this.streams.flush(msg.taskId);
        this.events.onReport?.(msg.taskId, msg.data);
        return;
      case 'share':
        this.sharedValues.set(msg.name, msg.value);
        for (const other of this.slots) if (other.worker && other.worker !== worker) other.worker.postMessage({ t: 'share', name: msg.name, value: msg.value });
        return;
      case 'mem': {
        const entry = slot.assigned.find((a) => a.task.task_id === msg.taskId);
        if (entry) {
          entry.heapUsed = msg.heapUsed;
          entry.memory = msg.heapUsed + msg.external;
          entry.memoryAt = Date.now();
        }
        return;
      }
      case 'done':
        return this.onDone(slot, msg);
    }
  }

  private onDone(slot: Slot, msg: Extract<WorkerToEngine, { t: 'done' }>): void {
    slot.lastHeapUsed = msg.heapUsed;
    const current = slot.assigned[0];
    if (!current || current.task.task_id !== msg.taskId) return; // cancelled meanwhile; its result is void
    slot.assigned.shift();
    this.recordRunTime(msg.ms);
    this.finish(current, msg.ok ? { status: 'ok', value: msg.value } : { status: 'error', error: msg.error });
    const head = slot.assigned[0];
    if (msg.next !== null && head?.task.task_id !== msg.next) {
      // The worker started a task we have since cancelled (the skip came too late): stop it the hard way.
      this.requeueAssigned(slot);
      this.replaceWorker(slot);
    } else if (head) {
      // next === head: started right away; next === null: head's run message is still on its way and starts it.
      this.markStarted(slot, head);
    }
    this.scheduleDispatch();
  }

  private onWorkerExit(slot: Slot, worker: Worker, code: number, crashError: Error | null): void {
    if (slot.worker !== worker) return; // terminated on purpose, already replaced
    this.drainWorkerPort(slot, worker);
    if (slot.worker !== worker) return;
    detachWorker(slot);
    const current = slot.assigned.shift();
    this.requeueAssigned(slot);
    if (current) {
      const taskId = current.task.task_id;
      const evalue = crashError
        ? `task ${taskId} crashed its worker thread: ${crashError.message}`
        : `task ${taskId} ended its worker thread with exit code ${code} (process.exit?) before returning`;
      const ename = (crashError as NodeJS.ErrnoException | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'TaskOutOfMemory' : 'TaskCrashed';
      this.recordRunTime(Date.now() - (current.startedAt ?? Date.now()));
      this.finish(current, { status: 'error', error: { ename, evalue, traceback: crashError?.stack?.split('\n') ?? [] } });
    }
    if (!this.closed) this.scheduleDispatch();
  }
}
