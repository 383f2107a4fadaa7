/** Messages between an engine's TaskRunner and its worker threads (in-process only, never on the wire). */
import type { MessagePort } from 'node:worker_threads';
import type { TaskCallOf, TaskErrorInfo } from '../protocol';

export type { TaskErrorInfo };

export interface WorkerInit {
  host: string;
  slot: number;
  /** absolute path of tsx's CJS register API, used when a task module is TypeScript */
  tsxCjsApi: string | null;
  /** where the worker sends everything (WorkerToEngine); the engine can read it synchronously */
  toEngine: MessagePort;
  /** how often a running task's memory is reported (ms) */
  memoryReportMs: number;
}

/** A task as the runner holds it: the wire's task call with its arguments unpacked. */
export type RunnableTask = TaskCallOf<unknown[]>;

/** A task as the worker runs it. */
export type RunMessage = RunnableTask & { engine_id: number | null };

/** `run` appends tasks to the worker's queue (run in order); `skip` drops a queued, not yet started one. */
export type EngineToWorker =
  | { t: 'run'; tasks: RunMessage[] }
  | { t: 'skip'; taskId: string }
  | { t: 'share'; name: string; value: unknown };

export type WorkerToEngine =
  | { t: 'ready'; tid: number | null; heapUsed: number }
  | { t: 'stream'; taskId: string; name: 'stdout' | 'stderr'; text: string }
  | { t: 'hpcdl:report'; taskId: string; data: Record<string, unknown> }
  /** heapUsed: the worker's V8 heap; external: its Buffers/ArrayBuffers and other memory V8 is told about */
  | { t: 'mem'; taskId: string; heapUsed: number; external: number }
  | { t: 'share'; name: string; value: unknown }
  /** `ms`: run time inside the worker; `next`: the task this worker started right after (null: it went idle) */
  | { t: 'done'; taskId: string; ok: true; value: unknown; heapUsed: number; ms: number; next: string | null }
  | { t: 'done'; taskId: string; ok: false; error: TaskErrorInfo; heapUsed: number; ms: number; next: string | null };
