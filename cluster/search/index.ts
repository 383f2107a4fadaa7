/** cluster.search: hyperparameter studies on the cluster's engines. */
export { startSearch } from './start-search';
export { StudyHandle, type StudyTrial, type BaselineRun } from './study-handle';
export { SearchDriver, type TaskSpan, type DriverSettings } from './driver';
export { StudyDisplay } from './live-display';
export { paramsToOverrides } from './hep-params';
export { foldBlocks, foldFiles, writeFoldDataset } from './folds';
export type { Evaluation } from './evaluate-task';
export type { SearchSpace, SearchOptions, ObjectiveSpec, HepObjectiveSpec, ObjectiveContext, ObjectiveResult, TrialEvent, TrialEventKind } from './types';
