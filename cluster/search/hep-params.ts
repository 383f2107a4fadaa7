/**
 * How a trial's params become HEP config overrides (shared by the HEP
 * objective on the engines and `best().evaluate()` in the client).
 */
import type { HepConfig } from '../../src/config/types';
import type { Params } from '../../src/hpo/types';

/** Search parameter names understood besides config keys, and the config field each sets. */
const ALIASES: Record<string, string> = {
  lr: 'learning_rate',
  learning_rate: 'learning_rate',
  filters: 'conv_params.num_filters',
  num_filters: 'conv_params.num_filters',
  filter_size: 'conv_params.filter_size',
  fc_units: 'num_fc_units',
  num_fc_units: 'num_fc_units',
  batch_size: 'train_batch_size',
  train_batch_size: 'train_batch_size',
  layers: 'num_layers',
  num_layers: 'num_layers',
  epochs: 'num_epochs',
  num_epochs: 'num_epochs',
  batch_norm: 'batch_norm',
  weight_decay: 'weight_decay',
  dropout_p: 'dropout_p',
};

/**
 * Config overrides for a trial's params. `dropout` is a drop probability and
 * sets the config's keep probability `dropout_p = 1 - dropout`; dotted names
 * (`conv_params.padding`) and other top-level config keys pass through.
 */
export function paramsToOverrides(params: Params, config: HepConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(params)) {
    if (name === 'dropout') {
      if (typeof value !== 'number' || value < 0 || value >= 1) throw new RangeError(`param dropout must be a drop probability in [0, 1), got ${JSON.stringify(value)}`);
      out.dropout_p = 1 - value;
    } else if (ALIASES[name]) {
      out[ALIASES[name]] = value;
    } else if (name.includes('.') || name in config) {
      out[name] = value;
    } else {
      throw new Error(`param "${name}" is not a HEP config field; use one of ${[...Object.keys(ALIASES), 'dropout'].join(', ')}, a config key, or a dotted path such as conv_params.num_filters`);
    }
  }
  return out;
}
