/**
 * hpcdl: the deep-learning library (configs, data, model, backend, training,
 * metrics, plots). The cluster layer is a separate entry point, `hpcdl/cluster`.
 * Everything is exported flat, and per area as a namespace (`hpcdl.model.Rng`;
 * the training area's namespace is `training`, since `train` is the function).
 */
export * from './config';
export * from './data';
export * from './model';
export * from './backend';
export * from './train';
export * from './metrics';
export * from './plots';
export * from './batch';
// both areas have a seeded generator; the flat name is the data one (model's: `model.Rng`)
export { Rng } from './data';

export * as config from './config';
export * as data from './data';
export * as model from './model';
export * as backend from './backend';
export * as training from './train';
export * as metrics from './metrics';
export * as plots from './plots';
export * as hpo from './hpo';
