/** Checks on what clients send before the controller acts on it. */
import type { ResourceRequest, TaskSubmission } from '../protocol';

export function hasResourceRequest(r: ResourceRequest | undefined): boolean {
  return !!r && ((r.gpus ?? 0) > 0 || (r.cpus ?? 0) > 0 || (r.memory_bytes ?? 0) > 0);
}

export function stringList(v: unknown, what: string): string[] {
  if (!Array.isArray(v)) throw new Error(`${what} must be an array of strings`);
  return v.map((x) => String(x));
}

/** Why submission `index` cannot be accepted, or null when it is well formed. */
export function validateSubmission(t: TaskSubmission, index: number, bufferCount: number): string | null {
  if (typeof t !== 'object' || t === null) return `tasks[${index}] is not an object`;
  if (typeof t.task_id !== 'string' || t.task_id === '') return `tasks[${index}].task_id must be a non-empty string`;
  if (t.kind !== 'module' && t.kind !== 'source' && t.kind !== 'share') return `kind must be 'module', 'source' or 'share', got ${JSON.stringify((t as { kind: unknown }).kind)}`;
  if (t.kind === 'module' && typeof t.module !== 'string') return 'kind "module" needs a module path';
  if (t.kind === 'source' && typeof t.source !== 'string') return 'kind "source" needs function source';
  if (typeof t.args !== 'object' || t.args === null || !Array.isArray(t.args.$b)) return 'args must be a packed value {$v, $b}';
  if (t.args.$b.some((i) => !Number.isInteger(i) || i < 0 || i >= bufferCount)) return `args refer to a buffer the message does not have (${bufferCount} buffers)`;
  if (t.targets !== undefined && t.targets !== null && t.targets !== 'all') {
    if (!Array.isArray(t.targets) || t.targets.length === 0 || t.targets.some((x) => !Number.isInteger(x))) return 'targets must be engine ids, "all" or null';
  }
  if (t.after !== undefined && (!Array.isArray(t.after) || t.after.some((x) => typeof x !== 'string'))) return 'after must be a list of task ids';
  if (t.timeout_ms !== undefined && (typeof t.timeout_ms !== 'number' || !(t.timeout_ms >= 0))) return 'timeout_ms must be a non-negative number';
  if (t.retries !== undefined && (typeof t.retries !== 'number' || !(t.retries >= 0))) return 'retries must be a non-negative number';
  if (t.engine_losses !== undefined && (!Number.isInteger(t.engine_losses) || t.engine_losses < 0)) return 'engine_losses must be a non-negative integer';
  return null;
}
