import type { HepConfig } from '../../src/config/types';

/** The seed's common config values (hep_cnn_benchmark v1 configs/*.json), built inline. */
export function seedConfig(overrides: Partial<HepConfig> & { conv_params?: Partial<HepConfig['conv_params']> }): HepConfig {
  const base: HepConfig = {
    input_shape: [3, 64, 64],
    inputpath: '/nonexistent',
    outputpath: '/tmp',
    trainsamples: 726016,
    arch: 'hsw',
    mode: 'sync',
    num_hot_spares: 0,
    display_interval: 10,
    save_interval: 1,
    learning_rate: 1e-5,
    dropout_p: 0.5,
    optimizer: 'ADAM',
    weight_decay: 0,
    num_layers: 3,
    num_fc_units: 512,
    momentum: 0.9,
    num_epochs: 200,
    train_batch_size: 8,
    validation_batch_size: 8,
    batch_size_per_node: false,
    batch_norm: false,
    scaling_improvements: false,
    time: true,
    create_summary: false,
    restart: false,
    conv_params: { data_format: 'NCHW', num_filters: 128, filter_size: 3, padding: 'SAME', activation: 'ReLU', initializer: 'HE' },
  };
  const { conv_params, ...rest } = overrides;
  return { ...base, ...rest, conv_params: { ...base.conv_params, ...(conv_params ?? {}) } };
}

/** cori_haswell_64-like (NCHW) or NHWC twin */
export function config64(format: 'NCHW' | 'NHWC'): HepConfig {
  return seedConfig({
    input_shape: format === 'NCHW' ? [3, 64, 64] : [64, 64, 3],
    conv_params: { data_format: format },
  });
}

/** dom_gpu_224 (NCHW) / daint_gpu_224 (NHWC) */
export function config224(format: 'NCHW' | 'NHWC'): HepConfig {
  return seedConfig({
    input_shape: format === 'NCHW' ? [3, 224, 224] : [224, 224, 3],
    num_layers: 4,
    num_fc_units: undefined,
    scaling_improvements: true,
    learning_rate: 1e-3,
    conv_params: { data_format: format },
  });
}

/** a small network for fast tests */
export function tinyConfig(
  extra: Partial<HepConfig> & { conv_params?: Partial<HepConfig['conv_params']> } = {},
  format: 'NCHW' | 'NHWC' = 'NHWC',
): HepConfig {
  const { conv_params, ...rest } = extra;
  return seedConfig({
    input_shape: format === 'NHWC' ? [12, 12, 3] : [3, 12, 12],
    num_layers: 2,
    num_fc_units: 16,
    conv_params: { data_format: format, num_filters: 6, ...(conv_params ?? {}) },
    ...rest,
  });
}
