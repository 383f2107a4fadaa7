/** hpcdl hpo: search spaces, samplers, pruners, the Study state machine and its journal. */
export type * from './types';
export { Study, StudyOptionsError, validateStudyOptions, foldSpread, eventRecord } from './study';
export type { StudyClock, StudyRecord } from './study';
export { StudyJournal, JournalError, JOURNAL_VERSION } from './journal';
export type { ResumeOptions } from './journal';
export { validateSpace, validateParams, SpaceError, dimensionOrder, isActive, activeNames, sampleParams, toUnit, fromUnit, paramsKey, SpaceEncoder } from './space';
export { createSampler, ALGORITHMS, RandomSampler, GridSampler, GpSampler, TpeSampler, GeneticSampler } from './samplers';
export type { Sampler, SamplerContext } from './samplers';
export { gridPoints } from './samplers/grid';
export { createPruner, MedianPruner, AshaPruner, PrunerOptionsError } from './pruners';
export type { Pruner } from './pruners';
export type { MedianOptions } from './pruners/median';
export type { AshaOptions } from './pruners/asha';
