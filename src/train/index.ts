export { Adam, type AdamOptions, type AdamState } from './adam';
export {
  CHECKPOINT_FORMAT,
  hashJson,
  latestCheckpoint,
  listCheckpoints,
  loadCheckpoint,
  namedVariablesOf,
  readManifest,
  resolveCheckpoint,
  saveCheckpoint,
  type CheckpointManifest,
  type LoadedCheckpoint,
  type NamedVariable,
  type SaveCheckpointOptions,
  type SavedCheckpoint,
} from './checkpoint';
export { batchImages, binaryMetrics, collectPredictions, type BinaryMetrics, type Predictions } from './evaluate';
export { formatF, formatG, timestamp } from './format';
export { runIoTest, type IoTestResult } from './iotest';
export { RunRecorder } from './record';
export {
  trainLoop,
  type CheckpointPolicy,
  type EpochRecord,
  type LossFunction,
  type TrainEvent,
  type TrainLoopOptions,
  type TrainResult,
} from './loop';
export { throughputLines, steadyThroughput } from './timing';
export {
  train,
  resolveConfig,
  configHash,
  useWeightsFor,
  type TrainOptions,
  type TrainRunResult,
  type IoTestRunResult,
} from './train';
export { infer, type InferOptions, type InferResult, type CutComparison } from './infer';
export { runDemo, defaultConfigPath, type DemoOptions, type DemoResult } from './demo';
export { packageRoot } from '../package-info';
export {
  DataParallel,
  DEFAULT_WARMUP,
  setupDifferences,
  type CommunicationTotals,
  type DataParallelGroup,
  type DataParallelOptions as DataParallelTrainingOptions,
  type GradientCompression,
  type RankSetup,
  type Warmup,
} from './data-parallel';
export { asUserTraining, trainUserModel, type RankContext, type UserRunConfig, type UserTrainOptions, type UserTrainResult, type UserTraining } from './user-training';
export { packageVersion } from '../package-info';
export { serveParameters, type ParameterServerOptions, type ParameterServerStats } from './parameter-server';
export { ParameterServerWorker, workerPosition, type ParameterServerTraining, type ParameterServerWorkerOptions, type RemoteUpdate } from './ps-worker';
export { checkLayout, roleOf, shardRanges, modeLine, type ParameterServerGroup, type ParameterServerLayout, type PeerMessage, type Role, type UpdateMode } from './ps-layout';
export { ShardAdam, type ShardAdamOptions } from './shard-adam';
