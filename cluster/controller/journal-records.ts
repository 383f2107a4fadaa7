/**
 * What the controller writes to its journal (submissions with their binary
 * arguments, results, engine ids) and how --resume reads it back.
 */
import type { PackedRef, TaskSubmission } from '../protocol';
import { Journal } from './journal';
import type { EngineRegistry } from './engine-registry';
import type { TaskTable } from './task-table';
import type { StoredResult, Task } from './types';

function base64(buffers: Uint8Array[]): string[] {
  return buffers.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64'));
}

function fromBase64(list: unknown): Uint8Array[] {
  return Array.isArray(list) ? list.map((s) => new Uint8Array(Buffer.from(String(s), 'base64'))) : [];
}

export function submitRecord(owner: string | null, spec: Omit<TaskSubmission, 'args'>, args: PackedRef, argBuffers: Uint8Array[]): Record<string, unknown> {
  return { r: 'submit', owner, task: { ...spec, args }, bufs: argBuffers.length ? base64(argBuffers) : undefined };
}

export function resultRecord(taskId: string, result: StoredResult): Record<string, unknown> {
  return {
    r: 'result',
    task_id: taskId,
    status: result.status,
    value: result.value,
    bufs: result.buffers.length ? base64(result.buffers) : undefined,
    error: result.error,
    engine_id: result.engine_id,
    started_ms: result.started_ms,
    finished_ms: result.finished_ms,
  };
}

function storedResult(rec: Record<string, any>): StoredResult {
  return {
    status: rec.status,
    value: rec.value,
    buffers: fromBase64(rec.bufs),
    error: rec.error,
    engine_id: rec.engine_id,
    started_ms: rec.started_ms,
    finished_ms: rec.finished_ms ?? 0,
  };
}

export interface ReplayTargets {
  tasks: TaskTable;
  engines: EngineRegistry;
  /** queue a replayed task that has no result (or wait for its dependencies) */
  activate(task: Task): void;
  log(line: string): void;
}

/** Rebuild tasks, results and engine ids from the journal of an earlier controller; returns the engines alive when it stopped. */
export function replayJournal(file: string, into: ReplayTargets): { aliveEngines: Set<number>; persistentSessions: Set<string> } {
  const aliveEngines = new Set<number>();
  const persistentSessions = new Set<string>();
  const { records, skipped } = Journal.replay(file);
  for (const s of skipped) into.log(`journal ${file}:${s.line}: skipped unreadable record (${s.text.slice(0, 60)}...)`);
  const created: Task[] = [];
  let results = 0;
  for (const rec of records) {
    if (rec.r === 'submit' && rec.task?.task_id) {
      const task = into.tasks.create(rec.task, fromBase64(rec.bufs), rec.owner ?? null);
      if (task) created.push(task);
    } else if (rec.r === 'result') {
      const task = into.tasks.get(rec.task_id);
      if (!task || task.result) continue;
      into.tasks.settle(task, storedResult(rec));
      results += 1;
      into.tasks.rememberFinished(task.id);
    } else if (rec.r === 'engine' && Number.isInteger(rec.engine_id)) {
      into.engines.restoreId(String(rec.uuid), rec.engine_id);
      aliveEngines.add(rec.engine_id);
    } else if (rec.r === 'engine_gone') {
      aliveEngines.delete(rec.engine_id);
    } else if (rec.r === 'client' && rec.persist === true) {
      persistentSessions.add(String(rec.session));
    }
  }
  for (const task of created) if (task.state === 'waiting') into.activate(task);
  const { counts } = into.tasks;
  into.log(`resumed from ${file}: ${into.tasks.size} task(s), ${results} result(s), ${counts.queued + counts.waiting} to run again, waiting for engine(s) ${[...aliveEngines].join(', ') || 'none'}`);
  return { aliveEngines, persistentSessions };
}
