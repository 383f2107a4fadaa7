import type { GroupSpec } from './types';

export interface GroupTaskArgs {
  group: GroupSpec;
  /** the user's function: `export` of `module` (a path or package specifier), called as fn(...args) */
  target: { module: string; export?: string };
  args?: unknown[];
}

/** Join the group, make it `currentGroup()`, run the user's function, close the group. */
export async function runInGroup(task: GroupTaskArgs): Promise<unknown> {
  throw new Error(`runInGroup: not implemented yet (${task.target.module})`);
}
