export type { LabelsInput, ScoresInput, WeightsInput } from './inputs';
export { weightedAccuracy } from './accuracy';
export { rocCurve, rocAuc, trapezoidArea, dropCollinearPoints, type RocCurve } from './roc';
export { rocAucThresholds, tfAucThresholds, ThresholdHistogram, aucFromCounts, type ThresholdCounts } from './threshold-auc';
export { signalEfficiencyAt, selectionEfficiencies } from './efficiency';
export { StreamingBinaryMetrics, type StreamingResult } from './streaming';
