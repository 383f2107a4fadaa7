export type { TrainableModel } from './types';
export { buildHepCnn, countParameters, HepCnn } from './hep_cnn';
export type { HepCnnOptions, LayerSummary, NamedWeight } from './hep_cnn';
export { weightedSoftmaxCrossEntropy } from './loss';
export { Rng, heNormalValues, dropoutMask } from './random';
