/**
 * `startSearch(cluster, opts)` (what `cluster.search(opts)` calls): checks the
 * options, opens or resumes the study (with its journal), shows the live
 * display in a notebook, and starts the driver.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Study, StudyJournal } from '../../src/hpo';
import type { StudyOptions } from '../../src/hpo/types';
import type { Cluster } from '../client/cluster';
import { SearchDriver, type DriverSettings } from './driver';
import { StudyDisplay } from './live-display';
import { checkGroupObjective, resolveObjective } from './objective';
import { StudyHandle } from './study-handle';
import type { SearchOptions } from './types';

/** The rule: a failed trial is retried once. */
const MAX_ATTEMPTS = 2;
/** A final AUC within this of 0.5 is no better than guessing (the seed's non-converged RPV run sat at 0.5 exactly). */
const DEFAULT_CHANCE_TOLERANCE = 0.005;
/** what a data-parallel trial's validation gives (group-trial.ts) */
const GROUP_METRICS = ['val_auc', 'val_loss', 'val_accuracy', 'loss'];

export function startSearch(cluster: Cluster, opts: SearchOptions): StudyHandle {
  checkOptions(opts);
  const objective = resolveObjective(opts.objective);
  const enginesPerTrial = opts.engines ?? 1;
  if (enginesPerTrial > 1) checkGroupObjective(objective, enginesPerTrial);
  // a data-parallel trial reports what cluster.train validates, like the HEP objective
  const metric = opts.metric ?? (objective.kind === 'hep' || enginesPerTrial > 1 ? 'val_auc' : 'value');
  if (enginesPerTrial > 1 && !GROUP_METRICS.includes(metric)) throw new Error(`search: a data-parallel trial (engines: ${enginesPerTrial}) reports ${GROUP_METRICS.join(', ')}; metric "${metric}" is none of them`);
  const direction = opts.direction ?? (/auc|acc/i.test(metric) ? 'max' : 'min');
  const folds = opts.folds ?? 1;
  const seed = opts.seed ?? 0;
  const name = opts.name ?? (opts.journal ? path.basename(opts.journal).replace(/\.[^.]*$/, '') : `study-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const dir = path.resolve(opts.dir ?? (opts.journal ? path.join(path.dirname(opts.journal), name) : path.join('hpcdl-search', name)));
  const studyOptions: StudyOptions = {
    space: opts.space,
    algorithm: opts.algorithm ?? 'random',
    trials: opts.trials,
    direction,
    metric,
    pruner: opts.pruner ?? 'none',
    seed,
    name,
    ...(folds > 1 ? { folds } : {}),
    ...(opts.maxParallel !== undefined ? { maxParallel: opts.maxParallel } : {}),
  };
  let journal: StudyJournal | null = null;
  let study: Study;
  if (opts.journal) {
    const file = path.resolve(opts.journal);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const exists = fs.existsSync(file) && fs.statSync(file).size > 0;
    journal = exists ? StudyJournal.resume(file, { trials: opts.trials, maxParallel: opts.maxParallel }) : StudyJournal.open(file, studyOptions);
    study = journal.study;
  } else {
    study = new Study(studyOptions);
  }
  fs.mkdirSync(dir, { recursive: true });
  const settings: DriverSettings = {
    metric: study.options.metric ?? metric,
    direction: study.options.direction ?? direction,
    folds: study.options.folds ?? folds,
    maxParallel: opts.maxParallel ?? null,
    dir,
    seed: study.options.seed ?? seed,
    chance: opts.chance === null ? undefined : (opts.chance ?? (/auc$/i.test(metric) ? 0.5 : undefined)),
    chanceCheck: opts.chance !== null,
    chanceTolerance: opts.chanceTolerance ?? DEFAULT_CHANCE_TOLERANCE,
    timeoutMs: opts.timeoutMs,
    maxAttempts: MAX_ATTEMPTS,
    enginesPerTrial,
  };
  const driver = new SearchDriver(cluster, study, objective, settings);
  const display = opts.display === false ? null : new StudyDisplay(study, { metric: settings.metric, direction: settings.direction, title: `${name}: ${objective.label}, ${study.options.algorithm ?? 'random'}` });
  if (display) driver.onTrial((event) => display.onEvent(event));
  const finished = driver.run().finally(() => {
    display?.close();
    journal?.close();
  });
  return new StudyHandle(cluster, driver, objective, journal?.path ?? null, finished);
}

function checkOptions(opts: SearchOptions): void {
  if (!opts || typeof opts !== 'object') throw new TypeError('search: options must be an object');
  if (!opts.space || typeof opts.space !== 'object' || Object.keys(opts.space).length === 0) throw new TypeError('search: space must be a non-empty object of dimensions');
  if (opts.objective === undefined) throw new TypeError('search: objective is required');
  if (!Number.isInteger(opts.trials) || opts.trials < 1) throw new RangeError(`search: trials must be a positive integer, got ${opts.trials}`);
  if (opts.folds !== undefined && (!Number.isInteger(opts.folds) || opts.folds < 1)) throw new RangeError(`search: folds must be a positive integer, got ${opts.folds}`);
  if (opts.maxParallel !== undefined && (!Number.isInteger(opts.maxParallel) || opts.maxParallel < 1)) throw new RangeError(`search: maxParallel must be a positive integer, got ${opts.maxParallel}`);
  if (opts.direction !== undefined && opts.direction !== 'min' && opts.direction !== 'max') throw new RangeError(`search: direction must be 'min' or 'max', got ${JSON.stringify(opts.direction)}`);
  if (opts.engines !== undefined) {
    if (!Number.isInteger(opts.engines) || opts.engines < 1) throw new RangeError(`search: engines (per trial) must be a positive integer, got ${opts.engines}`);
    if (opts.engines > 1 && (opts.folds ?? 1) > 1) {
      throw new Error(`search: folds: ${opts.folds} with engines: ${opts.engines} per trial is not supported (k folds of a data-parallel trial would hold k × ${opts.engines} engines); use folds with one engine per trial, or engines without folds`);
    }
  }
}
