/**
 * The API a task sees while it runs on an engine: `report()` publishes metrics
 * that stream to subscribed clients, `taskContext()` tells which task/engine it is.
 *
 * Both work through `globalThis` and the port the engine gave the worker, not through module
 * state, so a task module that imports this file from `dist/` and the engine that
 * runs it from source (or the other way round) still agree.
 */
import { isMainThread, workerData, type MessagePort } from 'node:worker_threads';
import { currentGroup } from '../collectives/current-group';
import type { ProcessGroup } from '../collectives/types';

export interface TaskContext {
  taskId: string;
  engineId: number | null;
  host: string;
  slot: number;
  /** the task's process group when it runs in one (cluster/collectives/group-task.ts), else null */
  group: ProcessGroup | null;
}

/** The shape of the messages a task worker posts to the engine (internal). */
export const TASK_CONTEXT_KEY = '__hpcdlTaskContext';
export const REPORT_MESSAGE = 'hpcdl:report';
export const SHARED_KEY = '__hpcdlShared';

type ReportListener = (data: Record<string, unknown>) => void;
const localListeners = new Set<ReportListener>();

/** The running task's identity, or null when not called from inside an engine task. */
export function taskContext(): TaskContext | null {
  const ctx = (globalThis as Record<string, unknown>)[TASK_CONTEXT_KEY] as Omit<TaskContext, 'group'> | undefined;
  return ctx ? { ...ctx, group: currentGroup() } : null;
}

/**
 * Publish metrics (`{epoch, loss, accuracy, ...}`) from inside a task. On an
 * engine they stream to the client as `onReport` events. Outside an engine task
 * (plain local code) they go to listeners added with `onLocalReport`, so the same
 * training function can run locally and remotely. Returns true if anyone received it.
 */
export function report(data: Record<string, unknown>): boolean {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new TypeError(`report() expects a plain object of metrics, got ${Array.isArray(data) ? 'an array' : typeof data}`);
  }
  const ctx = taskContext();
  const toEngine = isMainThread ? null : (workerData as { toEngine?: MessagePort } | null)?.toEngine;
  if (toEngine && ctx) {
    toEngine.postMessage({ t: REPORT_MESSAGE, taskId: ctx.taskId, data });
    return true;
  }
  for (const listener of localListeners) listener(data);
  return localListeners.size > 0;
}

/** Receive `report()` calls made outside an engine (local runs). Returns an unsubscribe function. */
export function onLocalReport(listener: ReportListener): () => void {
  localListeners.add(listener);
  return () => localListeners.delete(listener);
}

/**
 * A value broadcast to this engine with `cluster.all().broadcast(name, value)`
 * (or `engine(id).broadcast`); undefined when nothing was broadcast under `name`.
 */
export function shared<T = unknown>(name: string): T | undefined {
  const store = (globalThis as Record<string, unknown>)[SHARED_KEY] as Map<string, unknown> | undefined;
  return store?.get(name) as T | undefined;
}
