export type { HepConfig, ConvParams, DataFormat, LearningRate } from './types';
export { ConfigError, type ConfigIssue } from './errors';
export { loadConfig, assertTrainable, configSummaryLines, SUPPORTED_OPTIMIZERS } from './load';
export { validateConfig, configSource, type ValidateOptions } from './validate';
export { overrideConfig } from './override';
export { derivedValues, learningRateAt, type DerivedValues } from './derived';
export { parseJsonStrict } from './json';
export {
  CONFIG_SCHEMA,
  CONV_PARAMS_SCHEMA,
  LEARNING_RATE_SCHEDULE_SCHEMA,
  describeType,
  schemaMarkdown,
  type FieldSpec,
  type FieldType,
  type SchemaTable,
} from './schema';
