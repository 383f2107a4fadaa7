/** Data-parallel training on N engines (`cluster.train`), its rank task and live display. */
export { startTraining, TrainingRun, DistributedTrainingError, type TrainingOptions, type TrainingOutcome, type RankPlacement } from './start-training';
export { TrainingProgress, type GlobalStep, type RankStep, type TrainingReport } from './training-progress';
export { TrainingDisplay, displayTraining } from './training-display';
export type { RankResult, RankTaskArgs, RankJob } from './rank-task';
