export { engineMain, parseEngineArgs, ENGINE_USAGE } from './cli';
export { Engine, type EngineOptions, type EngineExit as EngineStop } from './engine';
export { TaskRunner, type RunnableTask, type TaskOutcome, type TaskUsage, type RunnerEvents } from './runner';
export { ResourceSampler, describeNode, queryGpus, type NodeResourceSample, type GpuSample } from './resources';
export { report, taskContext, shared, onLocalReport, type TaskContext } from './task-api';
