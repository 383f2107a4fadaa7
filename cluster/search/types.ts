/**
 * The types of `cluster.search(...)`: options, objectives, the context a
 * trial's task receives, and the events of a running study.
 */
import type { HepConfig } from '../../src/config/types';
import type { AlgorithmName, Direction, Params, PrunerName, SearchSpace, Trial } from '../../src/hpo/types';

/** Built-in HEP CNN training: a config (file or object) plus fixed overrides; the trial's params go on top. */
export interface HepObjectiveSpec {
  config: string | HepConfig;
  /** config changes every trial gets (dotted keys allowed), e.g. `{ num_epochs: 3 }` */
  overrides?: Record<string, unknown>;
  /** data directory (default: the config's `inputpath`) */
  inputPath?: string;
  /** stop every training at this global step (quick runs) */
  maxSteps?: number;
}

/**
 * What a trial runs: the HEP training, or a function `(params, ctx) => number
 * | {value, checkpoint?, chance?}` exported by a module, given as
 * `'path/to/module.ts#exportName'` or `{ module, export }`. The function calls
 * `report({ epoch, <metric>: value })` (from hpcdl/cluster) once per epoch.
 */
export type ObjectiveSpec = HepObjectiveSpec | string | { module: string; export?: string; config?: Record<string, unknown> };

export interface SearchOptions {
  space: SearchSpace;
  objective: ObjectiveSpec;
  algorithm?: AlgorithmName;
  trials: number;
  direction?: Direction;
  /** the reported key that is the objective, e.g. 'val_auc' (default 'value') */
  metric?: string;
  pruner?: PrunerName | { name: PrunerName; [k: string]: unknown };
  /** k-fold cross-validation: each trial runs k tasks (fold 0..k-1); its score is the mean */
  folds?: number;
  seed?: number;
  /** JSON-lines journal; an existing one is resumed */
  journal?: string;
  /** at most this many trial tasks at once (default: every engine slot) */
  maxParallel?: number;
  /**
   * engines per trial (default 1). k > 1: each trial trains data-parallel with
   * `cluster.train` on k engines free at that moment, while other trials share
   * the rest (the HEP objective, or a module exporting a `{ buildModel,
   * batchSource }` training whose run config is `objective.config` plus the params)
   */
  engines?: number;
  /** where trials write checkpoints (default: next to the journal, else ./hpcdl-search/<name>) */
  dir?: string;
  name?: string;
  /** show the live trial table and curves in the notebook cell (default: when running in a kernel) */
  display?: boolean;
  /** the metric's value at chance (a final value within `chanceTolerance` of it is failed_to_converge); default 0.5 for *auc metrics, null = no check */
  chance?: number | null;
  /** default 0.005 */
  chanceTolerance?: number;
  /** per-task timeout (ms) */
  timeoutMs?: number;
}

/** What each trial's task gets as its second argument. */
export interface ObjectiveContext {
  trial: number;
  fold: number;
  folds: number;
  /** this trial's (and fold's) own directory, for checkpoints and logs */
  dir: string;
  seed: number;
  metric: string;
  direction: Direction;
  /** the built-in HEP objective's settings (absent for user objectives) */
  hep?: { config: HepConfig; overrides: Record<string, unknown>; inputPath?: string; maxSteps?: number };
}

/** A user objective may return more than the number. */
export interface ObjectiveResult {
  value: number;
  /** checkpoint manifest (or run directory) for `best().evaluate('test')` */
  checkpoint?: string;
  /** the metric's chance level for this problem (e.g. the class prior for accuracy) */
  chance?: number;
}

export type TrialEventKind = 'started' | 'report' | 'complete' | 'pruned' | 'failed' | 'failed_to_converge' | 'retried';

export interface TrialEvent {
  kind: TrialEventKind;
  trial: Trial;
  /** the report that caused a 'report' event */
  data?: Record<string, unknown>;
}

export type { AlgorithmName, Direction, Params, PrunerName, SearchSpace, Trial };
