/** hpcdl data: HDF5 event files, the input pipeline, the synthetic generator, inspection. */
export type { BatchSource, EventBatch } from './types';
export { DataFileError, DataOptionsError } from './errors';
export { loadH5wasm, hdf5Reason, Hdf5File, writeArrays, readArrays, readAttributes } from './hdf5';
export type { NamedArray, NumericArray, AttrValue, DatasetInfo } from './hdf5';
export { EventFile, writeEventFile, SEED_NAMES, LEGACY_NAMES } from './events';
export type { EventLayout, EventFileInfo, EventScalars, EventArrays, WriteEventFileOptions } from './events';
export { discoverFiles, shardFiles, openEventSource, chwToHwc } from './pipeline';
export type { EventSourceOptions, Split, ImageLayout } from './pipeline';
export { synthesize, STANDARD_CUTS, CHANNEL_NAMES, JET_COLUMNS, PROCESS, SHOWER, RECO, DETECTOR, ETA_MAX, cutDefinition } from './synth';
export type { SynthOptions, SynthSummary, SynthFileSummary, CutSummary } from './synth';
export { Rng } from './rng';
export { inspectFile, formatInspectReport, hasProblems } from './inspect';
export type { InspectReport, InspectOptions, ClassSums } from './inspect';
export { formatSynthSummary, eventKinematics } from './synth';
export { findContiguousDataset } from './h5layout';
export type { ContiguousExtent } from './h5layout';
export { firstNonFinite } from './non-finite';
