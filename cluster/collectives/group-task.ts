/**
 * The group task wrapper: an engine runs `runInGroup` as its task; it joins
 * the group (rank 0 without `master` publishes its address with
 * `report({ rendezvous })`, which reaches the client), makes the group
 * `currentGroup()` (and `taskContext().group`), calls the user's function and
 * closes the group whatever happens.
 */
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { report, taskContext } from '../engine/task-api';
import { setCurrentGroup } from './current-group';
import { joinGroup } from './join-group';
import type { GroupSpec } from './types';

export interface GroupTaskArgs {
  group: GroupSpec & { host?: string; heartbeatTimeoutMs?: number };
  /** the user's function: `export` (default "default") of `module` (absolute path or package), called as fn(...args) */
  target: { module: string; export?: string };
  args?: unknown[];
}

async function loadTarget(target: GroupTaskArgs['target']): Promise<(...args: unknown[]) => unknown> {
  if (!target || typeof target.module !== 'string') throw new TypeError('runInGroup: target.module must be a module path');
  const name = target.export ?? 'default';
  const mod = (target.module.endsWith('.mjs') ? await import(pathToFileURL(path.resolve(target.module)).href) : require(target.module)) as Record<string, unknown>;
  const fn = mod[name];
  if (typeof fn !== 'function') throw new TypeError(`runInGroup: ${target.module} has no exported function "${name}" (exports: ${Object.keys(mod).join(', ') || 'none'})`);
  return fn as (...args: unknown[]) => unknown;
}

/** Join the group, make it `currentGroup()`, run the user's function, close the group. */
export async function runInGroup(task: GroupTaskArgs): Promise<unknown> {
  const fn = await loadTarget(task.target);
  const ctx = taskContext();
  const group = await joinGroup({
    ...task.group,
    engineId: ctx?.engineId ?? null,
    onListening: task.group.master ? undefined : (address) => report({ rendezvous: address, groupId: task.group.groupId }),
  });
  setCurrentGroup(group);
  try {
    return await fn(...(task.args ?? []));
  } finally {
    setCurrentGroup(null);
    await group.close();
  }
}
