/**
 * TaskRunner: runs tasks in a pool of worker threads, one task per worker at a
 * time, at most `slots` at once; more are queued. A worker is reused between
 * tasks (a fresh thread per task would cost ~100 ms), and replaced when a task is
 * cancelled (worker.terminate()), times out, or crashes its thread (process.exit,
 * uncaught error, out of memory) — the engine itself stays up.
 */
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { RunMessage, TaskErrorInfo, WorkerInit, WorkerToEngine } from './worker-messages';

export interface RunnableTask {
  taskId: string;
  kind: 'module' | 'source';
  module?: string;
  exportName?: string;
  source?: string;
  args: unknown[];
  timeoutMs?: number;
}

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

interface RunningTask {
  task: RunnableTask;
  startedAt: number;
  heapUsed: number;
  endReason: TaskOutcome | null;
  timer: NodeJS.Timeout | null;
}

interface Slot {
  index: number;
  worker: Worker | null;
  tid: number | null;
  lastCpuTicks: number | null;
  lastCpuSampleAt: number;
  running: RunningTask | null;
}

const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
if (workerData.tsxCjsApi && workerData.impl.endsWith('.ts')) require(workerData.tsxCjsApi).register();
require(workerData.impl);
`;

function resolveTsxApi(): string | null {
  try {
    return require.resolve('tsx/cjs/api');
  } catch {
    return null;
  }
}

const CLOCK_TICKS_PER_SECOND = 100;

function readThreadCpuTicks(tid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime (fields 14, 15 of stat)
  } catch {
    return null;
  }
}

export class TaskRunner {
  private readonly slots: Slot[];
  private readonly queue: RunnableTask[] = [];
  private readonly streamBuffers = new Map<string, { stdout: string; stderr: string }>();
  private flushTimer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly host: string;
  private readonly workerImpl = path.join(__dirname, `task-worker${path.extname(__filename)}`);
  private readonly tsxCjsApi = resolveTsxApi();
  /** values broadcast to this engine; every worker, present and future, gets them */
  private readonly sharedValues = new Map<string, unknown>();

  constructor(
    private readonly opts: TaskRunnerOptions,
    private readonly events: RunnerEvents,
  ) {
    if (!Number.isInteger(opts.slots) || opts.slots < 1) throw new RangeError(`slots must be a positive integer, got ${opts.slots}`);
    this.host = opts.host ?? os.hostname();
    this.slots = Array.from({ length: opts.slots }, (_, index) => ({
      index,
      worker: null,
      tid: null,
      lastCpuTicks: null,
      lastCpuSampleAt: 0,
      running: null,
    }));
    if (opts.prewarm) for (const slot of this.slots) this.spawnWorker(slot);
  }

  get slotCount(): number {
    return this.slots.length;
  }

  /** Tasks running or queued. */
  get load(): number {
    return this.queue.length + this.slots.filter((s) => s.running).length;
  }

  submit(task: RunnableTask): void {
    if (this.closed) throw new Error('TaskRunner is closed');
    this.queue.push(task);
    this.dispatch();
  }

  /** Cancel a queued or running task. Returns false when the task is unknown (already finished). */
  cancel(taskId: string, reason = 'cancelled by request'): boolean {
    const queuedAt = this.queue.findIndex((t) => t.taskId === taskId);
    if (queuedAt >= 0) {
      this.queue.splice(queuedAt, 1);
      this.events.onResult(taskId, { status: 'cancelled', error: { ename: 'TaskCancelled', evalue: reason, traceback: [] } });
      return true;
    }
    const slot = this.slots.find((s) => s.running?.task.taskId === taskId);
    if (!slot) return false;
    this.stopRunning(slot, { status: 'cancelled', error: { ename: 'TaskCancelled', evalue: reason, traceback: [] } });
    return true;
  }

  runningTaskIds(): string[] {
    return this.slots.filter((s) => s.running).map((s) => s.running!.task.taskId);
  }

  /** Per-task CPU (from the worker thread's /proc stat) and heap, for the resource stream. */
  usage(): TaskUsage[] {
    const now = Date.now();
    const out: TaskUsage[] = [];
    for (const slot of this.slots) {
      if (!slot.running) continue;
      let cpuPercent = 0;
      const ticks = slot.tid !== null ? readThreadCpuTicks(slot.tid) : null;
      if (ticks !== null && slot.lastCpuTicks !== null && now > slot.lastCpuSampleAt) {
        const seconds = (now - slot.lastCpuSampleAt) / 1000;
        cpuPercent = Math.max(0, ((ticks - slot.lastCpuTicks) / CLOCK_TICKS_PER_SECOND / seconds) * 100);
      }
      slot.lastCpuTicks = ticks;
      slot.lastCpuSampleAt = now;
      out.push({
        task_id: slot.running.task.taskId,
        slot: slot.index,
        cpu_percent: Math.round(cpuPercent * 10) / 10,
        memory_bytes: slot.running.heapUsed,
        elapsed_ms: now - slot.running.startedAt,
      });
    }
    return out;
  }

  /** Stop all workers; running and queued tasks end as cancelled. */
  async close(reason = 'engine shutting down'): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const error = { ename: 'TaskCancelled', evalue: reason, traceback: [] };
    for (const task of this.queue.splice(0)) this.events.onResult(task.taskId, { status: 'cancelled', error });
    const exits: Promise<unknown>[] = [];
    for (const slot of this.slots) {
      if (slot.running) this.finish(slot, { status: 'cancelled', error });
      if (slot.worker) exits.push(slot.worker.terminate());
      slot.worker = null;
    }
    this.flushStreams();
    await Promise.allSettled(exits);
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      const slot = this.slots.find((s) => !s.running);
      if (!slot) return;
      this.start(slot, this.queue.shift()!);
    }
  }

  private start(slot: Slot, task: RunnableTask): void {
    const worker = slot.worker ?? this.spawnWorker(slot);
    slot.running = { task, startedAt: Date.now(), heapUsed: 0, endReason: null, timer: null };
    slot.lastCpuTicks = slot.tid !== null ? readThreadCpuTicks(slot.tid) : null;
    slot.lastCpuSampleAt = Date.now();
    if (task.timeoutMs && task.timeoutMs > 0) {
      slot.running.timer = setTimeout(() => {
        this.stopRunning(slot, {
          status: 'error',
          error: { ename: 'TaskTimeout', evalue: `task ${task.taskId} exceeded its timeout of ${task.timeoutMs} ms`, traceback: [] },
        });
      }, task.timeoutMs);
    }
    const msg: RunMessage = {
      t: 'run',
      taskId: task.taskId,
      engineId: this.opts.engineId?.() ?? null,
      kind: task.kind,
      module: task.module,
      exportName: task.exportName,
      source: task.source,
      args: task.args,
    };
    this.events.onStarted?.(task.taskId, slot.index);
    try {
      worker.postMessage(msg);
    } catch (err) {
      this.finish(slot, {
        status: 'error',
        error: { ename: 'SerializationError', evalue: `task arguments cannot be sent to the worker: ${(err as Error).message}`, traceback: [] },
      });
      this.dispatch();
    }
  }

  /** End the running task of a slot by terminating its worker (cancel, timeout). */
  private stopRunning(slot: Slot, outcome: TaskOutcome): void {
    if (!slot.running) return;
    const worker = slot.worker;
    this.finish(slot, outcome);
    if (worker) {
      slot.worker = null;
      slot.tid = null;
      void worker.terminate();
    }
    if (!this.closed) this.spawnWorker(slot);
    this.dispatch();
  }

  private finish(slot: Slot, outcome: TaskOutcome): void {
    const running = slot.running;
    if (!running) return;
    if (running.timer) clearTimeout(running.timer);
    slot.running = null;
    this.flushStreams(running.task.taskId);
    this.events.onResult(running.task.taskId, outcome);
  }

  private spawnWorker(slot: Slot): Worker {
    const init: WorkerInit & { impl: string } = {
      host: this.host,
      slot: slot.index,
      tsxCjsApi: this.tsxCjsApi,
      impl: this.workerImpl,
    };
    const limits = this.opts.maxTaskMemoryMb ? { maxOldGenerationSizeMb: this.opts.maxTaskMemoryMb } : undefined;
    const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: init, resourceLimits: limits, stdout: false, stderr: false });
    slot.worker = worker;
    slot.tid = null;
    let crashError: Error | null = null;
    worker.on('message', (msg: WorkerToEngine) => this.onWorkerMessage(slot, worker, msg));
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
        if (slot.running && slot.lastCpuTicks === null && msg.tid !== null) slot.lastCpuTicks = readThreadCpuTicks(msg.tid);
        return;
      case 'stream':
        this.bufferStream(msg.taskId, msg.name, msg.text);
        return;
      case 'hpcdl:report':
        this.flushStreams(msg.taskId);
        this.events.onReport?.(msg.taskId, msg.data);
        return;
      case 'share':
        this.sharedValues.set(msg.name, msg.value);
        for (const other of this.slots) if (other.worker && other.worker !== worker) other.worker.postMessage({ t: 'share', name: msg.name, value: msg.value });
        return;
      case 'mem':
        if (slot.running?.task.taskId === msg.taskId) slot.running.heapUsed = msg.heapUsed;
        return;
      case 'done':
        if (slot.running?.task.taskId !== msg.taskId) return;
        this.finish(slot, msg.ok ? { status: 'ok', value: msg.value } : { status: 'error', error: msg.error });
        this.dispatch();
        return;
    }
  }

  private onWorkerExit(slot: Slot, worker: Worker, code: number, crashError: Error | null): void {
    if (slot.worker !== worker) return; // terminated on purpose, already replaced
    slot.worker = null;
    slot.tid = null;
    if (slot.running) {
      const taskId = slot.running.task.taskId;
      const evalue = crashError
        ? `task ${taskId} crashed its worker thread: ${crashError.message}`
        : `task ${taskId} ended its worker thread with exit code ${code} (process.exit?) before returning`;
      const ename = (crashError as NodeJS.ErrnoException | null)?.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'TaskOutOfMemory' : 'TaskCrashed';
      this.finish(slot, { status: 'error', error: { ename, evalue, traceback: crashError?.stack?.split('\n') ?? [] } });
    }
    if (!this.closed) this.dispatch();
  }

  private bufferStream(taskId: string, name: 'stdout' | 'stderr', text: string): void {
    let buf = this.streamBuffers.get(taskId);
    if (!buf) this.streamBuffers.set(taskId, (buf = { stdout: '', stderr: '' }));
    buf[name] += text;
    if (buf.stdout.length + buf.stderr.length > 64 * 1024) this.flushStreams(taskId);
    else if (!this.flushTimer) {
      this.flushTimer = setTimeout(() => {
        this.flushTimer = null;
        this.flushStreams();
      }, this.opts.streamFlushMs ?? 30);
    }
  }

  private flushStreams(onlyTaskId?: string): void {
    const ids = onlyTaskId !== undefined ? [onlyTaskId] : [...this.streamBuffers.keys()];
    for (const id of ids) {
      const buf = this.streamBuffers.get(id);
      if (!buf) continue;
      this.streamBuffers.delete(id);
      if (buf.stdout) this.events.onStream?.(id, 'stdout', buf.stdout);
      if (buf.stderr) this.events.onStream?.(id, 'stderr', buf.stderr);
    }
  }
}
