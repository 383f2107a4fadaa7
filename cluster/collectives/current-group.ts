/**
 * The process group of the running task (set by the group task wrapper,
 * ./group-task.ts). Kept on globalThis, like the task API's context, so a task
 * module loaded from dist/ and the wrapper loaded from source agree.
 */
import type { ProcessGroup } from './types';

const CURRENT_GROUP_KEY = '__hpcdlCurrentGroup';

/** the group of the running task, set by the group task wrapper; null outside one */
export function currentGroup(): ProcessGroup | null {
  return ((globalThis as Record<string, unknown>)[CURRENT_GROUP_KEY] as ProcessGroup | undefined) ?? null;
}

export function setCurrentGroup(group: ProcessGroup | null): void {
  (globalThis as Record<string, unknown>)[CURRENT_GROUP_KEY] = group ?? undefined;
}
