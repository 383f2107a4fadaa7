/**
 * What the controller writes to its journal (submissions with their binary
 * arguments, results, engine ids) and how --resume reads it back.
 */
import type { PackedRef, TaskSubmission } from '../protocol';
import { Journal } from './journal';
import type { EngineRegistry } from './engine-registry';
import type { TaskTable } from './task-table';
import type { ResultStore, SpillRef } from './result-store';
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

/** A result record: its buffers inline (base64) when small, else the spill file that holds them. */
export function resultRecord(taskId: string, result: StoredResult, spill: SpillRef | null = result.spill ?? null): Record<string, unknown> {
  return {
    r: 'result',
    task_id: taskId,
    status: result.status,
    value: result.value,
    bufs: !spill && result.buffers.length ? base64(result.buffers) : undefined,
    file: spill?.file,
    lens: spill?.lens,
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
  results: ResultStore;
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
      const result = storedResult(rec);
      if (typeof rec.file === 'string' && Array.isArray(rec.lens)) into.results.restore(result, { file: rec.file, lens: rec.lens.map(Number) });
      into.tasks.settle(task, result);
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

export interface SnapshotSources {
  clusterId: string;
  version: string;
  tasks: TaskTable;
  engines: EngineRegistry;
  results: ResultStore;
  persistentSessions: Iterable<string>;
}

/**
 * The journal compacted: what --resume needs to rebuild the same state, and
 * nothing it replaced — engine ids, sessions that persist, every task the
 * table still holds (a finished one without its arguments, its result inline
 * when small or by its spill file). Null while a result is still being
 * spilled (its record would name a file not yet on disk).
 */
export function snapshotRecords(s: SnapshotSources): Record<string, unknown>[] | null {
  if (s.results.inFlight > 0) return null;
  const records: Record<string, unknown>[] = [{ r: 'start', time: new Date().toISOString(), cluster_id: s.clusterId, pid: process.pid, version: s.version, compacted: true }];
  for (const { uuid, id, alive } of s.engines.idRecords()) {
    records.push({ r: 'engine', engine_id: id, uuid });
    if (!alive) records.push({ r: 'engine_gone', engine_id: id });
  }
  for (const session of s.persistentSessions) records.push({ r: 'client', session, persist: true });
  for (const task of s.tasks.values()) {
    records.push(submitRecord(task.owner, task.spec, task.args, task.argBuffers));
    if (task.result) records.push(resultRecord(task.id, task.result));
  }
  return records;
}
