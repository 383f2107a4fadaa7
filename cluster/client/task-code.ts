/**
 * What the user passes as a task (a function, `{module, export}`, `{source}`
 * or "path#export") turned into the protocol's TaskCode, which then travels
 * unchanged to the engine's worker thread.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { TaskCode } from '../protocol';

/** A function to run remotely (its source is sent), a module export, or "path#export". */
export type TaskSpec = ((...args: any[]) => unknown) | { module: string; export?: string } | { source: string } | string;

/** A function's source cannot change: map() over many items converts it once. */
const functionCodes = new WeakMap<(...args: any[]) => unknown, TaskCode>();

export function taskCode(spec: TaskSpec): TaskCode {
  if (typeof spec === 'function') {
    let known = functionCodes.get(spec);
    if (!known) functionCodes.set(spec, (known = functionCode(spec)));
    return known;
  }
  return describedCode(spec);
}

function functionCode(spec: (...args: any[]) => unknown): TaskCode {
  const source = spec.toString();
  if (/\{\s*\[native code\]\s*\}$/.test(source)) throw new TypeError('cannot send a native or bound function; pass a plain function or a module task');
  // Method shorthand (`foo(x) {...}`) is not an expression; make it one.
  const isExpression = /^(async\s+)?(function\b|\(|[A-Za-z_$][\w$]*\s*=>)/.test(source) || /^class\b/.test(source);
  return { kind: 'source', source: isExpression ? source : `function ${source}` };
}

function describedCode(spec: Exclude<TaskSpec, (...args: any[]) => unknown>): TaskCode {
  if (typeof spec === 'string') {
    const hash = spec.lastIndexOf('#');
    const module = hash > 0 ? spec.slice(0, hash) : spec;
    return { kind: 'module', module: resolveModulePath(module), export: hash > 0 ? spec.slice(hash + 1) : 'default' };
  }
  if (spec && typeof spec === 'object' && 'source' in spec && typeof spec.source === 'string') {
    return { kind: 'source', source: spec.source };
  }
  if (spec && typeof spec === 'object' && 'module' in spec && typeof spec.module === 'string') {
    return { kind: 'module', module: resolveModulePath(spec.module), export: spec.export ?? 'default' };
  }
  throw new TypeError('a task is a function, {module, export}, {source}, or "path/to/module.ts#exportName"');
}

function resolveModulePath(module: string): string {
  if (module.startsWith('.') || module.startsWith('/')) {
    const abs = path.resolve(module);
    if (!fs.existsSync(abs)) throw new Error(`task module ${abs} does not exist`);
    return abs;
  }
  return module; // a package specifier, resolved on the engine
}
