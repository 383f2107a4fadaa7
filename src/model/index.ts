export type { TrainableModel } from './types';
export { buildHepCnn, countParameters, HepCnn } from './hep_cnn';
export type { HepCnnOptions, LayerSummary, NamedWeight } from './hep_cnn';
export { weightedSoftmaxCrossEntropy } from './loss';
export { Rng, heNormalValues, dropoutMask } from './random';
export { weightedCrossEntropySum } from './loss';
export { DataParallelGradients } from './data_parallel';
export type { DataParallelOptions, GradientResult } from './data_parallel';
