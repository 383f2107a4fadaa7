/**
 * The HEP CNN training configuration, as read from `configs/*.json`.
 * Field names and meanings follow the seed (NERSC hep_cnn_benchmark); the one
 * schema in `schema.ts` validates every file against this shape.
 */
export type DataFormat = 'NCHW' | 'NHWC';

export interface ConvParams {
  data_format: DataFormat;
  num_filters: number;
  filter_size: number;
  padding: 'SAME' | 'VALID';
  activation: 'ReLU';
  initializer: 'HE';
}

/** `learning_rate` is a constant or a schedule keyed by global step. */
export type LearningRate =
  | number
  | {
      mode: 'piecewise' | 'polynomial';
      power?: number;
      /** `{ "<step>": lr }`; boundaries are the sorted step keys */
      learning_rate_params: Record<string, number>;
    };

export interface HepConfig {
  /** [C,H,W] when data_format is NCHW, [H,W,C] when NHWC */
  input_shape: [number, number, number];
  inputpath: string;
  outputpath: string;
  trainsamples: number;
  arch: 'hsw' | 'knl' | 'gpu' | 'ivb' | 'cpu';
  mode: 'sync' | 'async';
  num_hot_spares: number;
  display_interval: number;
  save_interval: number;
  learning_rate: LearningRate;
  /** a KEEP probability, as in the seed */
  dropout_p: number;
  optimizer: 'ADAM' | 'KFAC';
  weight_decay: number;
  num_layers: number;
  num_fc_units?: number;
  momentum: number;
  num_epochs: number;
  train_batch_size: number;
  validation_batch_size: number;
  batch_size_per_node: boolean;
  batch_norm: boolean;
  scaling_improvements: boolean;
  time: boolean;
  create_summary: boolean;
  restart: boolean;
  conv_params: ConvParams;
  // optional seed extras
  fully_sync_fraction?: number;
  cov_ema_decay?: number;
  damping?: number;
  kfac_inv_update_frequency?: number;
  validation_interval?: number;
  validation_max_steps?: number;
  test_batch_size?: number;
  test_max_steps?: number;
  // hpcdl extras
  /** seed for shuffles and initialisation (default 12345) */
  seed?: number;
  /** false = force all training weights to 1, as the seed does (default false) */
  use_weights_in_training?: boolean;
  /** steps between checkpoints (default: one per epoch) */
  checkpoint_interval?: number;
  /** parameter servers of cluster.train / hpcdl train (the seed's --num_ps; default 0 = allreduce) */
  num_ps?: number;
  /** resources of the config's Slurm run script (make_scripts) */
  slurm?: SlurmSection;
}

export interface SlurmSection {
  partition?: string;
  constraint?: string;
  nodes?: number;
  tasks_per_node?: number;
  cpus_per_task?: number;
  gpus_per_task?: number;
  time?: string;
  account?: string;
  qos?: string;
}
