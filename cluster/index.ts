/**
 * hpcdl/cluster: the client API (Cluster.start / Cluster.connect, views,
 * handles), the task-side API (report, taskContext, shared), launchers, and the
 * wire protocol. Each area appends its own export lines.
 */
// client, task API, launchers, engine (D2)
export * from './client';
export { report, taskContext, shared, onLocalReport, type TaskContext } from './engine/task-api';
export { engineMain } from './engine/cli';
export { LocalLauncher, SrunLauncher, SbatchLauncher, EngineSupervisor, type EngineLauncher, type LaunchContext, type SlurmLauncherOptions, type ReplacementEvent } from './launchers';
export { ResourceSampler, type NodeResourceSample, type GpuSample } from './engine/resources';
// protocol (D1)
export * from './protocol';
// controller (D1): append `export { controllerMain } from './controller/cli';` and other controller exports below
export { controllerMain, parseControllerArgs } from './controller/cli';
export { Controller, type ControllerOptions } from './controller/controller';
// distributed training (cluster.train)
// types only: cluster/train loads the training library (tfjs), which a plain client does not need
export type { TrainingRun, DistributedTrainingError, TrainingDisplay, TrainingOptions, TrainingOutcome, TrainingReport, GlobalStep, RankResult } from './train';
// collectives: process groups and ring allreduce (docs/collectives.md)
export { joinGroup, groupFromSlurmEnv, currentGroup, runInGroup, type ProcessGroup, type GroupSpec, type JoinOptions, type ReduceOp, type CollectiveStats, type GroupTaskArgs } from './collectives';
// hyperparameter search (cluster.search)
export { startSearch, StudyHandle, type StudyTrial, type BaselineRun, type SearchSpace, type SearchOptions, type ObjectiveSpec, type HepObjectiveSpec, type ObjectiveContext, type ObjectiveResult, type TrialEvent, type Evaluation } from './search';
