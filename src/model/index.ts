export type { TrainableModel } from './types';
export { buildHepCnn, countParameters, HepCnn } from './hep-cnn';
export type { HepCnnOptions, LayerSummary, NamedWeight } from './hep-cnn';
export { weightedSoftmaxCrossEntropy } from './loss';
export { Rng, heNormalValues, dropoutMask } from './random';
export { weightedCrossEntropySum } from './loss';
export { DataParallelGradients } from './data-parallel';
export type { DataParallelOptions, GradientResult } from './data-parallel';
