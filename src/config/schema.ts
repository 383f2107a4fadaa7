/**
 * The one schema every config in `configs/` is validated against: a
 * declarative table of fields (type, required, range or enum, default, doc).
 * `validate.ts` interprets it; `schemaMarkdown()` renders it for docs/config.md.
 */
export type FieldType =
  | { type: 'integer'; min?: number; max?: number }
  | { type: 'number'; min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { type: 'string'; nonEmpty?: boolean }
  | { type: 'boolean' }
  | { type: 'enum'; values: readonly string[] }
  /** three positive integers: [C,H,W] or [H,W,C] */
  | { type: 'shape3' }
  | { type: 'object'; fields: SchemaTable }
  /** a positive number or the v2d schedule object described by `schedule` */
  | { type: 'learningRate'; schedule: SchemaTable }
  /** `{ "<step>": rate }`: non-negative integer keys, positive rates, at least one entry */
  | { type: 'stepRates' };

/**
 * `required`: true = must be present; false = optional;
 * 'normalised' = may be missing in seed files; validation fills `default` and warns.
 */
export interface FieldSpec {
  kind: FieldType;
  required: boolean | 'normalised';
  default?: unknown;
  /** what the field means (as in the seed, plus what hpcdl does with it) */
  doc: string;
  /** 'seed' = a seed v1 key, 'seed-extra' = optional key of some seed configs, 'hpcdl' = hpcdl addition */
  origin: 'seed' | 'seed-extra' | 'hpcdl';
}

export type SchemaTable = Readonly<Record<string, FieldSpec>>;

const positiveInt: FieldType = { type: 'integer', min: 1 };
const nonNegativeInt: FieldType = { type: 'integer', min: 0 };
const fraction: FieldType = { type: 'number', min: 0, max: 1 };

export const LEARNING_RATE_SCHEDULE_SCHEMA: SchemaTable = {
  mode: {
    kind: { type: 'enum', values: ['piecewise', 'polynomial'] },
    required: true,
    doc: 'piecewise: rate of the last step key passed (TF piecewise_constant); polynomial: decay from the first rate to the last (TF polynomial_decay)',
    origin: 'seed-extra',
  },
  power: { kind: { type: 'number', min: 0 }, required: false, default: 1, doc: 'exponent of the polynomial decay (1 = linear)', origin: 'seed-extra' },
  learning_rate_params: {
    kind: { type: 'stepRates' },
    required: true,
    doc: '`{"<step>": rate}`; the boundaries are the sorted step keys',
    origin: 'seed-extra',
  },
};

export const CONV_PARAMS_SCHEMA: SchemaTable = {
  data_format: {
    kind: { type: 'enum', values: ['NCHW', 'NHWC'] },
    required: true,
    doc: 'memory layout of the images fed to the network; `input_shape` must follow it',
    origin: 'seed',
  },
  num_filters: { kind: positiveInt, required: true, doc: 'output channels of every conv layer (seed: 128)', origin: 'seed' },
  filter_size: { kind: { type: 'integer', min: 1, max: 15 }, required: true, doc: 'k of the k×k conv kernels (seed: 3)', origin: 'seed' },
  padding: { kind: { type: 'enum', values: ['SAME', 'VALID'] }, required: true, doc: 'conv padding (seed: SAME)', origin: 'seed' },
  activation: { kind: { type: 'enum', values: ['ReLU'] }, required: true, doc: 'the only activation the seed accepts', origin: 'seed' },
  initializer: { kind: { type: 'enum', values: ['HE'] }, required: true, doc: 'He-normal weights, zero biases (the only initializer the seed accepts)', origin: 'seed' },
};

/** The optional `slurm` section: what make_scripts puts on the #SBATCH lines of the config's run script. */
export const SLURM_SCHEMA: SchemaTable = {
  partition: { kind: { type: 'string', nonEmpty: true }, required: false, doc: '#SBATCH -p (seed: regular, debug)', origin: 'hpcdl' },
  constraint: { kind: { type: 'string', nonEmpty: true }, required: false, doc: '#SBATCH -C (seed: knl,quad,cache or haswell)', origin: 'hpcdl' },
  nodes: { kind: positiveInt, required: false, default: 1, doc: '#SBATCH -N', origin: 'hpcdl' },
  tasks_per_node: { kind: positiveInt, required: false, default: 1, doc: '#SBATCH --ntasks-per-node: training ranks per node (srun starts one rank per task)', origin: 'hpcdl' },
  cpus_per_task: { kind: positiveInt, required: false, doc: '#SBATCH -c (seed: 272 on KNL, 64 on Haswell); also HPCDL_TRAIN_THREADS and OMP_NUM_THREADS', origin: 'hpcdl' },
  gpus_per_task: { kind: nonNegativeInt, required: false, doc: '#SBATCH --gpus-per-task', origin: 'hpcdl' },
  time: { kind: { type: 'string', nonEmpty: true }, required: false, default: '01:00:00', doc: '#SBATCH -t (Slurm time, e.g. 00:30:00)', origin: 'hpcdl' },
  account: { kind: { type: 'string', nonEmpty: true }, required: false, doc: '#SBATCH -A', origin: 'hpcdl' },
  qos: { kind: { type: 'string', nonEmpty: true }, required: false, doc: '#SBATCH -q (seed: premium for Horovod runs)', origin: 'hpcdl' },
};

export const CONFIG_SCHEMA: SchemaTable = {
  input_shape: {
    kind: { type: 'shape3' },
    required: true,
    doc: 'image shape: [C,H,W] when data_format is NCHW, [H,W,C] when NHWC (seed: 3×224×224 or 3×64×64)',
    origin: 'seed',
  },
  inputpath: { kind: { type: 'string', nonEmpty: true }, required: true, doc: 'directory of the HDF5 event files (names containing train/val/test); ignored with --dummy-data', origin: 'seed' },
  outputpath: { kind: { type: 'string', nonEmpty: true }, required: true, doc: 'run directory; `logs/` and `models/` are created under it', origin: 'seed' },
  trainsamples: { kind: positiveInt, required: true, doc: 'training events per epoch, used for steps_per_epoch and last_step (seed: 726016)', origin: 'seed' },
  arch: { kind: { type: 'enum', values: ['hsw', 'knl', 'gpu', 'ivb', 'cpu'] }, required: true, doc: 'target architecture; in the seed it picks thread counts (hsw 2/16, knl 2/33, ivb 2/12)', origin: 'seed' },
  mode: { kind: { type: 'enum', values: ['sync', 'async'] }, required: true, doc: 'parameter-server update mode in the seed; hpcdl data parallelism is synchronous allreduce', origin: 'seed' },
  num_hot_spares: { kind: nonNegativeInt, required: true, doc: 'workers whose gradients sync mode may skip; must be fewer than the workers (seed: 0)', origin: 'seed' },
  display_interval: { kind: positiveInt, required: true, doc: 'steps between REPORT log lines (seed: 10)', origin: 'seed' },
  save_interval: { kind: nonNegativeInt, required: true, doc: 'never read by the seed (kept for compatibility; see checkpoint_interval)', origin: 'seed' },
  learning_rate: {
    kind: { type: 'learningRate', schedule: LEARNING_RATE_SCHEDULE_SCHEMA },
    required: true,
    doc: 'a positive constant, or {mode: piecewise|polynomial, power?, learning_rate_params: {"step": lr}} (v2d schedule)',
    origin: 'seed',
  },
  dropout_p: {
    kind: { type: 'number', min: 0, max: 1, minExclusive: true },
    required: true,
    doc: 'dropout KEEP probability during training, as in the seed (0.5); 1 disables dropout',
    origin: 'seed',
  },
  optimizer: {
    kind: { type: 'enum', values: ['ADAM', 'KFAC'] },
    required: 'normalised',
    default: 'ADAM',
    doc: 'ADAM; KFAC validates (seed config) but training refuses it. Missing → ADAM with a warning (the seed v1 fails with KeyError)',
    origin: 'seed',
  },
  weight_decay: { kind: { type: 'number', min: 0 }, required: true, doc: 'never read by the seed (kept for compatibility)', origin: 'seed' },
  num_layers: { kind: { type: 'integer', min: 1, max: 16 }, required: true, doc: 'conv blocks (conv → bias|BN → ReLU → maxpool 2 → dropout); seed: 4 (224) or 3 (64)', origin: 'seed' },
  num_fc_units: { kind: positiveInt, required: false, doc: 'hidden units of the FC head; required when scaling_improvements is false (seed: 512)', origin: 'seed' },
  momentum: { kind: { type: 'number', min: 0, max: 1, maxExclusive: true }, required: true, doc: 'used only by KFAC in the seed (0.9)', origin: 'seed' },
  num_epochs: { kind: positiveInt, required: true, doc: 'training epochs (seed: 200)', origin: 'seed' },
  train_batch_size: { kind: positiveInt, required: true, doc: 'training batch, per node or global (see batch_size_per_node)', origin: 'seed' },
  validation_batch_size: { kind: positiveInt, required: true, doc: 'validation batch, per node or global', origin: 'seed' },
  batch_size_per_node: { kind: { type: 'boolean' }, required: true, doc: 'true: batch sizes are per worker; false: global, divided by the workers', origin: 'seed' },
  batch_norm: { kind: { type: 'boolean' }, required: true, doc: 'batch norm instead of bias after each conv (seed: false)', origin: 'seed' },
  scaling_improvements: { kind: { type: 'boolean' }, required: true, doc: 'true: conv + global average pool head (224 configs); false: flatten → FC num_fc_units → FC 2 (64 configs)', origin: 'seed' },
  time: { kind: { type: 'boolean' }, required: true, doc: 'never read by the seed (timing lines are always printed)', origin: 'seed' },
  create_summary: { kind: { type: 'boolean' }, required: true, doc: 'true: scalars by step in logs/summary_rank0.jsonl (loss and global_step/sec every 100 steps as the seed\'s TensorBoard hooks, and the validation metrics); see docs/training.md', origin: 'seed' },
  restart: { kind: { type: 'boolean' }, required: true, doc: 'as the seed: false restores the newest checkpoint in outputpath/models when there is one, true starts fresh (an earlier run is moved to outputpath/previous/); --resume / --fresh override it', origin: 'seed' },
  conv_params: { kind: { type: 'object', fields: CONV_PARAMS_SCHEMA }, required: true, doc: 'convolution settings (fields below)', origin: 'seed' },
  fully_sync_fraction: { kind: fraction, required: false, doc: 'Cray ML plugin only: fraction of steps fully synchronised (knl_224_adam: 0.0); unused by hpcdl', origin: 'seed-extra' },
  cov_ema_decay: { kind: fraction, required: false, doc: 'KFAC covariance EMA decay (kfac: 0.95); required with KFAC', origin: 'seed-extra' },
  damping: { kind: { type: 'number', min: 0, minExclusive: true }, required: false, doc: 'KFAC damping (kfac: 1e-3); required with KFAC', origin: 'seed-extra' },
  kfac_inv_update_frequency: { kind: positiveInt, required: false, doc: 'KFAC inverse update period in steps (kfac: 50); required with KFAC', origin: 'seed-extra' },
  validation_interval: { kind: positiveInt, required: false, doc: 'v2: steps between EVALUATION REPORTs (knl_224_adam: 400), which also turns on v2\'s TRAINING REPORT and EVALUATION EPOCH SUMMARY lines; without it, the v1 lines only', origin: 'seed-extra' },
  validation_max_steps: { kind: { type: 'integer' }, required: false, doc: 'v2: at most this many validation batches per EVALUATION REPORT / EPOCH SUMMARY; ≤ 0 means all (knl_224_adam: 20); the v1 end-of-epoch validation reads the whole split', origin: 'seed-extra' },
  test_batch_size: { kind: positiveInt, required: false, doc: 'v2 inference batch (knl_224_adam: 141); default: validation_batch_size', origin: 'seed-extra' },
  test_max_steps: { kind: { type: 'integer' }, required: false, doc: 'v2 inference: at most this many test batches; ≤ 0 means all (knl_224_adam: -1)', origin: 'seed-extra' },
  seed: { kind: { type: 'integer', min: 0, max: 4294967295 }, required: false, default: 12345, doc: 'seed for shuffles, dropout and initialisation', origin: 'hpcdl' },
  use_weights_in_training: {
    kind: { type: 'boolean' },
    required: false,
    default: false,
    doc: 'false: training weights forced to 1, as the seed does; true: train with the normweight column',
    origin: 'hpcdl',
  },
  checkpoint_interval: { kind: positiveInt, required: false, doc: 'steps between checkpoints; default: one per epoch (steps_per_epoch)', origin: 'hpcdl' },
  slurm: { kind: { type: 'object', fields: SLURM_SCHEMA }, required: false, doc: 'batch resources of the config\'s run script (make_scripts writes batch_scripts/run_scripts/<config>.sbatch; fields below)', origin: 'hpcdl' },
  num_ps: {
    kind: nonNegativeInt,
    required: false,
    doc: 'parameter servers (the seed\'s --num_ps; absent = 0): > 0 makes cluster.train / hpcdl train use the first num_ps ranks as servers with `mode` and `num_hot_spares` (docs/distributed.md)',
    origin: 'hpcdl',
  },
};

/** "a positive integer", "one of \"sync\", \"async\"", ... — used in messages and docs. */
export function describeType(kind: FieldType): string {
  switch (kind.type) {
    case 'integer':
      return describeInteger(kind.min, kind.max);
    case 'number':
      return describeNumber(kind);
    case 'string':
      return kind.nonEmpty ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'enum':
      return kind.values.length === 1 ? `"${kind.values[0]}"` : `one of ${kind.values.map((v) => `"${v}"`).join(', ')}`;
    case 'shape3':
      return 'an array of 3 positive integers';
    case 'object':
      return 'an object';
    case 'learningRate':
      return 'a positive number or a schedule object {mode, power?, learning_rate_params}';
    case 'stepRates':
      return 'an object {"<step>": rate} with at least one entry';
  }
}

function describeInteger(min?: number, max?: number): string {
  if (min === 1 && max === undefined) return 'a positive integer';
  if (min === 0 && max === undefined) return 'a non-negative integer';
  if (min !== undefined && max !== undefined) return `an integer from ${min} to ${max}`;
  if (min !== undefined) return `an integer ≥ ${min}`;
  if (max !== undefined) return `an integer ≤ ${max}`;
  return 'an integer';
}

function describeNumber(kind: Extract<FieldType, { type: 'number' }>): string {
  const { min, max, minExclusive, maxExclusive } = kind;
  if (min !== undefined && max !== undefined) {
    return `a number in ${minExclusive ? '(' : '['}${min}, ${max}${maxExclusive ? ')' : ']'}`;
  }
  if (min === 0 && minExclusive) return 'a positive number';
  if (min !== undefined) return `a number ${minExclusive ? '>' : '≥'} ${min}`;
  if (max !== undefined) return `a number ${maxExclusive ? '<' : '≤'} ${max}`;
  return 'a number';
}

/** The schema as a Markdown table (docs/config.md embeds this output verbatim). */
export function schemaMarkdown(): string {
  const header = '| key | type / range | required | default | meaning |\n|---|---|---|---|---|';
  const rows: string[] = [];
  const addRows = (table: SchemaTable, prefix: string) => {
    for (const [key, spec] of Object.entries(table)) {
      rows.push(markdownRow(prefix + key, spec));
      if (spec.kind.type === 'object') addRows(spec.kind.fields, `${prefix}${key}.`);
      if (spec.kind.type === 'learningRate') addRows(spec.kind.schedule, `${prefix}${key}.`);
    }
  };
  addRows(CONFIG_SCHEMA, '');
  return `${header}\n${rows.join('\n')}\n`;
}

function markdownRow(path: string, spec: FieldSpec): string {
  const required = spec.required === true ? 'yes' : spec.required === 'normalised' ? 'no (warns)' : 'no';
  const dflt = spec.default === undefined ? '–' : `\`${JSON.stringify(spec.default)}\``;
  const origin = spec.origin === 'hpcdl' ? ' *(hpcdl)*' : spec.origin === 'seed-extra' ? ' *(seed extra)*' : '';
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return `| \`${path}\`${origin} | ${cell(describeType(spec.kind))} | ${required} | ${dflt} | ${cell(spec.doc)} |`;
}
