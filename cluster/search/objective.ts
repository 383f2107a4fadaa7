/**
 * Turns a search's `objective` into the task each trial runs and the context
 * it gets: the built-in HEP objective (a config plus overrides) or a user's
 * module function. The driver treats both alike.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadConfig, overrideConfig } from '../../src/config';
import type { HepConfig } from '../../src/config/types';
import type { HepObjectiveSpec, ObjectiveContext, ObjectiveSpec } from './types';

export interface ResolvedObjective {
  kind: 'hep' | 'module';
  /** what the view submits */
  task: { module: string; export: string };
  /** the HEP settings every trial's context carries */
  hep?: NonNullable<ObjectiveContext['hep']>;
  /** a short description for tables and reports */
  label: string;
  /** a module objective's base run config (data-parallel trials of a `{buildModel, batchSource}` training) */
  runConfig?: Record<string, unknown>;
}

/** The compiled task module when running from dist/, the TypeScript one under tsx. */
export function taskModule(name: string): string {
  const ext = path.extname(__filename) === '.ts' ? '.ts' : '.js';
  return path.join(__dirname, `${name}${ext}`);
}

export function isHepObjective(spec: ObjectiveSpec): spec is HepObjectiveSpec {
  return typeof spec === 'object' && spec !== null && 'config' in spec && !('module' in spec);
}

export function resolveObjective(spec: ObjectiveSpec): ResolvedObjective {
  if (isHepObjective(spec)) {
    const config = resolveHepConfig(spec.config);
    const overrides = spec.overrides ?? {};
    // fail on bad overrides now, not on every engine
    overrideConfig(config, overrides, { warn: () => undefined });
    // engines may run elsewhere in the file system tree: absolute paths
    const inputPath = path.resolve(spec.inputPath ?? config.inputpath);
    return {
      kind: 'hep',
      task: { module: taskModule('hep-objective'), export: 'hepObjective' },
      hep: { config, overrides, inputPath, maxSteps: spec.maxSteps },
      label: `HEP CNN (${typeof spec.config === 'string' ? path.basename(spec.config) : 'config object'})`,
    };
  }
  let module: string;
  let exportName: string;
  let runConfig: Record<string, unknown> | undefined;
  if (typeof spec === 'string') {
    const hash = spec.lastIndexOf('#');
    module = hash > 0 ? spec.slice(0, hash) : spec;
    exportName = hash > 0 ? spec.slice(hash + 1) : 'default';
  } else if (spec && typeof spec === 'object' && typeof (spec as { module?: unknown }).module === 'string') {
    module = (spec as { module: string }).module;
    exportName = (spec as { export?: string }).export ?? 'default';
    runConfig = (spec as { config?: Record<string, unknown> }).config;
  } else {
    throw new TypeError(`search: objective must be {config, overrides?} (HEP training), 'path/to/module.ts#export' or {module, export}; got ${JSON.stringify(spec)?.slice(0, 100)}`);
  }
  if (module.startsWith('.') || module.startsWith('/')) {
    module = path.resolve(module);
    if (!fs.existsSync(module)) throw new Error(`search: objective module ${module} does not exist`);
  }
  return { kind: 'module', task: { module, export: exportName }, label: `${path.basename(module)}#${exportName}`, ...(runConfig ? { runConfig } : {}) };
}

function resolveHepConfig(config: string | HepConfig): HepConfig {
  if (typeof config === 'string') {
    const file = path.resolve(config);
    if (!fs.existsSync(file)) throw new Error(`search: objective.config ${file} does not exist`);
    return loadConfig(file, { warn: () => undefined });
  }
  if (!config || typeof config !== 'object') throw new TypeError('search: objective.config must be a config file path or a HepConfig object');
  return overrideConfig(config, {}, { warn: () => undefined });
}

/**
 * Data-parallel trials run `cluster.train`, which trains the HEP CNN or a
 * module exporting a `{ buildModel, batchSource }` training, not a function
 * `(params, ctx) => number`. Refuse the latter now (when the module loads
 * here) rather than on every engine.
 */
export function checkGroupObjective(objective: ResolvedObjective, engines: number): void {
  if (objective.kind === 'hep') return;
  let exported: unknown;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    exported = (require(objective.task.module) as Record<string, unknown>)[objective.task.export];
  } catch {
    return; // not loadable in the client (the engines may be able to): the ranks name the fault
  }
  const t = exported as Record<string, unknown> | undefined;
  if (t && typeof t.buildModel === 'function' && typeof t.batchSource === 'function') return;
  throw new Error(
    `search: engines: ${engines} trains each trial data-parallel with cluster.train, which needs the HEP objective ({ config }) or a module export { buildModel, batchSource }; ` +
      `${objective.label} is ${typeof exported === 'function' ? 'a function objective (params, ctx) => number, which runs on one engine (leave engines at 1)' : `not such a training (${exported === undefined ? 'no such export' : typeof exported})`}`,
  );
}
