import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  ConfigError,
  HepConfig,
  assertTrainable,
  configSummaryLines,
  derivedValues,
  learningRateAt,
  loadConfig,
  overrideConfig,
  schemaMarkdown,
  validateConfig,
} from '../../src/config';

const root = path.resolve(__dirname, '../..');
const configsDir = path.join(root, 'configs');
const SEED_CONFIGS = [
  'cori_haswell_224',
  'cori_haswell_64',
  'cori_knl_224_adam',
  'cori_knl_224_kfac',
  'cori_knl_64',
  'daint_gpu_224',
  'dom_gpu_224',
  'maeve_gpu_224',
];

function quiet(): { warn: (s: string) => void; lines: string[] } {
  const lines: string[] = [];
  return { warn: (s) => lines.push(s), lines };
}

function seedRaw(name = 'cori_haswell_224'): Record<string, any> {
  return JSON.parse(fs.readFileSync(path.join(configsDir, `${name}.json`), 'utf8'));
}

/** the messages of the ConfigError that `fn` throws */
function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${err}`);
    assert.equal(err.message, err.issues.map((i) => i.message).join('\n'));
    return err.issues.map((i) => i.message);
  }
  assert.fail('expected a ConfigError');
}

function withTempFile(name: string, text: string, fn: (file: string) => void): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  try {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    fn(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('every shipped config validates (including configs/local_small.json when present)', () => {
  const files = fs.readdirSync(configsDir).filter((f) => f.endsWith('.json'));
  for (const name of SEED_CONFIGS) assert.ok(files.includes(`${name}.json`), `configs/${name}.json is shipped`);
  for (const file of files) {
    const config = loadConfig(path.join(configsDir, file), quiet());
    assert.ok(config.optimizer === 'ADAM' || config.optimizer === 'KFAC', file);
  }
});

test('seed values are kept (table of HCB v1 configs, plus the v2 extras of knl_224_adam)', () => {
  const load = (name: string) => loadConfig(path.join(configsDir, `${name}.json`), quiet());
  const expected: Record<string, [number[], string, string, string, string, number, number, number | undefined, number, boolean, boolean, boolean, number]> = {
    cori_haswell_224: [[3, 224, 224], 'NCHW', 'hsw', 'sync', 'ADAM', 1e-3, 4, undefined, 128, true, true, false, 1e-2],
    cori_haswell_64: [[3, 64, 64], 'NCHW', 'hsw', 'sync', 'ADAM', 1e-5, 3, 512, 8, false, false, false, 0],
    cori_knl_224_adam: [[224, 224, 3], 'NHWC', 'knl', 'sync', 'ADAM', 1e-3, 4, undefined, 128, true, true, true, 1e-2],
    cori_knl_224_kfac: [[224, 224, 3], 'NHWC', 'knl', 'async', 'KFAC', 5e-2, 4, undefined, 256, true, true, false, 1e-2],
    cori_knl_64: [[3, 64, 64], 'NCHW', 'knl', 'sync', 'ADAM', 1e-5, 3, 512, 8, false, false, false, 0],
    daint_gpu_224: [[224, 224, 3], 'NHWC', 'gpu', 'sync', 'ADAM', 1e-3, 4, undefined, 64, true, true, false, 1e-2],
    dom_gpu_224: [[3, 224, 224], 'NCHW', 'gpu', 'sync', 'ADAM', 1e-3, 4, undefined, 128, true, true, false, 1e-2],
    maeve_gpu_224: [[224, 224, 3], 'NHWC', 'gpu', 'sync', 'ADAM', 1e-3, 4, undefined, 64, true, true, false, 1e-2],
  };
  for (const [name, [shape, fmt, arch, mode, opt, lr, layers, fc, batch, perNode, scal, restart, wd]] of Object.entries(expected)) {
    const c = load(name);
    const got = [c.input_shape, c.conv_params.data_format, c.arch, c.mode, c.optimizer, c.learning_rate, c.num_layers, c.num_fc_units, c.train_batch_size, c.batch_size_per_node, c.scaling_improvements, c.restart, c.weight_decay];
    assert.deepEqual(got, [shape, fmt, arch, mode, opt, lr, layers, fc, batch, perNode, scal, restart, wd], name);
    assert.equal(c.validation_batch_size, batch, name);
    assert.equal(c.trainsamples, 726016);
    assert.equal(c.dropout_p, 0.5);
    assert.equal(c.num_epochs, 200);
    assert.equal(c.conv_params.num_filters, 128);
  }
  const adam = load('cori_knl_224_adam');
  assert.deepEqual(
    [adam.fully_sync_fraction, adam.validation_interval, adam.validation_max_steps, adam.test_batch_size, adam.test_max_steps],
    [0, 400, 20, 141, -1],
  );
  const kfac = load('cori_knl_224_kfac');
  assert.deepEqual([kfac.cov_ema_decay, kfac.damping, kfac.kfac_inv_update_frequency], [0.95, 1e-3, 50]);
  assert.equal(load('daint_gpu_224').inputpath, '/scratch/snx3000/tkurth/data/rpv_susy_benchmark_data/224x224/');
});

test('missing optimizer becomes ADAM with a warning naming the file', () => {
  for (const name of ['cori_knl_64', 'dom_gpu_224', 'maeve_gpu_224']) {
    const q = quiet();
    const file = path.join(configsDir, `${name}.json`);
    const c = loadConfig(file, q);
    assert.equal(c.optimizer, 'ADAM');
    assert.deepEqual(q.lines, [`${file}: optimizer is missing; using "ADAM" (the seed's v1 scripts stop with a KeyError here)`]);
  }
  const q = quiet();
  loadConfig(path.join(configsDir, 'cori_haswell_224.json'), q);
  assert.deepEqual(q.lines, []);
});

test('hpcdl defaults are filled: seed 12345, use_weights_in_training false', () => {
  const c = validateConfig(seedRaw(), 'x.json', quiet());
  assert.equal(c.seed, 12345);
  assert.equal(c.use_weights_in_training, false);
  assert.equal(c.checkpoint_interval, undefined);
  const custom = validateConfig({ ...seedRaw(), seed: 7, use_weights_in_training: true, checkpoint_interval: 50 }, 'x.json', quiet());
  assert.deepEqual([custom.seed, custom.use_weights_in_training, custom.checkpoint_interval], [7, true, 50]);
});

test('KFAC validates but assertTrainable refuses it with a clear error', () => {
  const file = path.join(configsDir, 'cori_knl_224_kfac.json');
  const kfac = loadConfig(file, quiet());
  assert.deepEqual(errorsOf(() => assertTrainable(kfac, 'wasm')), [`${file}: optimizer KFAC is not supported on backend wasm; use ADAM`]);
  assert.doesNotThrow(() => assertTrainable(loadConfig(path.join(configsDir, 'cori_knl_64.json'), quiet()), 'wasm'));
});

test('wrong type: exact message with file and key path', () => {
  const raw = seedRaw();
  raw.conv_params.num_filters = '12';
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'configs/x.json')), [
    'configs/x.json: conv_params.num_filters must be a positive integer, got "12"',
  ]);
});

test('unknown keys: did-you-mean when close, a pointer to the docs otherwise', () => {
  const raw = seedRaw();
  raw.conv_params.num_filter = 128;
  raw.learning_rte = 0.1;
  raw.banana = 1;
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'configs/x.json')), [
    'configs/x.json: learning_rte is not a known key (did you mean "learning_rate"?)',
    'configs/x.json: banana is not a known key (see docs/config.md for the known keys)',
    'configs/x.json: conv_params.num_filter is not a known key (did you mean "num_filters"?)',
  ]);
});

test('out-of-range values and bad enums', () => {
  const raw = seedRaw();
  raw.dropout_p = 1.5;
  raw.num_epochs = 0;
  raw.momentum = 1;
  raw.weight_decay = -0.1;
  raw.mode = 'Sync';
  raw.arch = 'haswell';
  raw.conv_params.padding = 'same';
  raw.input_shape = [3, 224];
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'configs/x.json')), [
    'configs/x.json: input_shape must be an array of 3 positive integers, got [3,224]',
    'configs/x.json: arch must be one of "hsw", "knl", "gpu", "ivb", "cpu", got "haswell"',
    'configs/x.json: mode must be one of "sync", "async", got "Sync" (did you mean "sync"?)',
    'configs/x.json: dropout_p must be a number in (0, 1], got 1.5',
    'configs/x.json: weight_decay must be a number ≥ 0, got -0.1',
    'configs/x.json: momentum must be a number in [0, 1), got 1',
    'configs/x.json: num_epochs must be a positive integer, got 0',
    'configs/x.json: conv_params.padding must be one of "SAME", "VALID", got "same" (did you mean "SAME"?)',
  ]);
});

test('missing required keys, and the top level must be an object', () => {
  const raw = seedRaw();
  delete raw.trainsamples;
  delete raw.conv_params.data_format;
  delete raw.restart;
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'configs/x.json')), [
    'configs/x.json: trainsamples is missing; expected a positive integer',
    'configs/x.json: restart is missing; expected true or false',
    'configs/x.json: conv_params.data_format is missing; expected one of "NCHW", "NHWC"',
  ]);
  assert.deepEqual(errorsOf(() => validateConfig([1, 2], 'configs/x.json')), ['configs/x.json: the top level must be a JSON object, got [1,2]']);
  const noConv = seedRaw();
  noConv.conv_params = 'NCHW';
  assert.deepEqual(errorsOf(() => validateConfig(noConv, 'c.json')), ['c.json: conv_params must be an object, got "NCHW"']);
});

test('rules between fields: layout vs input_shape, size vs layers, FC head, KFAC keys', () => {
  const swapped = seedRaw('cori_knl_224_adam');
  swapped.conv_params.data_format = 'NCHW';
  assert.deepEqual(errorsOf(() => validateConfig(swapped, 'a.json')), [
    'a.json: input_shape must be [C,H,W] for conv_params.data_format NCHW (C = channels, at most 16; is the layout NHWC?), got [224,224,3]',
  ]);
  const tiny = { ...seedRaw(), input_shape: [3, 8, 8] };
  assert.deepEqual(errorsOf(() => validateConfig(tiny, 'b.json')), [
    'b.json: input_shape is too small for num_layers 4: H and W must be at least 16 (each layer halves them), got [3,8,8]',
  ]);
  const noFc = seedRaw('cori_haswell_64');
  delete noFc.num_fc_units;
  assert.deepEqual(errorsOf(() => validateConfig(noFc, 'c.json')), [
    'c.json: num_fc_units is missing; expected a positive integer (required when scaling_improvements is false)',
  ]);
  const kfac = seedRaw('cori_knl_224_kfac');
  delete kfac.damping;
  assert.deepEqual(errorsOf(() => validateConfig(kfac, 'd.json')), ['d.json: damping is missing; expected a positive number (required when optimizer is KFAC)']);
});

test('invalid JSON names the file, line and column', () => {
  const text = '{\n  "input_shape": [3, 64, 64],\n  "arch": "hsw"\n  "mode": "sync"\n}\n';
  withTempFile('broken.json', text, (file) => {
    assert.deepEqual(errorsOf(() => loadConfig(file)), [`${file}: invalid JSON at line 4, column 3: expected ',' or '}' after the value of "arch", found '"'`]);
  });
  withTempFile('trailing.json', '{"a": 1,\n}', (file) => {
    assert.deepEqual(errorsOf(() => loadConfig(file)), [`${file}: invalid JSON at line 2, column 1: trailing comma before '}'`]);
  });
  withTempFile('dup.json', '{"arch": "hsw",\n "arch": "knl"}', (file) => {
    assert.deepEqual(errorsOf(() => loadConfig(file)), [`${file}: invalid JSON at line 2, column 2: duplicate key "arch"`]);
  });
  withTempFile('empty.json', '', (file) => {
    assert.deepEqual(errorsOf(() => loadConfig(file)), [`${file}: invalid JSON at line 1, column 1: unexpected end of file, expected a value`]);
  });
  assert.deepEqual(errorsOf(() => loadConfig('/nonexistent/x.json')), ['/nonexistent/x.json: cannot read the config: no such file']);
});

test('learning-rate schedules validate with key paths', () => {
  const raw = seedRaw();
  raw.learning_rate = { mode: 'linear', learning_rate_params: { '1': 1e-3, ten: 1e-4, '20': -1 }, powr: 2 };
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'lr.json')), [
    'lr.json: learning_rate.powr is not a known key (did you mean "power"?)',
    'lr.json: learning_rate.mode must be one of "piecewise", "polynomial", got "linear"',
    // integer-like keys come first in a JS object, whatever the file order
    'lr.json: learning_rate.learning_rate_params.20 must be a positive number, got -1',
    'lr.json: learning_rate.learning_rate_params.ten is not a step number: keys must be non-negative integers, got "ten"',
  ]);
  raw.learning_rate = { mode: 'polynomial', learning_rate_params: { '0': 1e-3 } };
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'lr.json')), [
    'lr.json: learning_rate.learning_rate_params must have a last step > 0 for polynomial decay, got {"0":0.001}',
  ]);
  raw.learning_rate = -0.1;
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'lr.json')), ['lr.json: learning_rate must be a positive number, got -0.1']);
  raw.learning_rate = { mode: 'piecewise', learning_rate_params: {} };
  assert.deepEqual(errorsOf(() => validateConfig(raw, 'lr.json')), [
    'lr.json: learning_rate.learning_rate_params must be an object {"<step>": rate} with at least one entry, got {}',
  ]);
});

test('learningRateAt: constant, piecewise_constant and polynomial_decay as in the seed v2d', () => {
  assert.equal(learningRateAt(1e-3, 12345), 1e-3);
  const piecewise = { mode: 'piecewise' as const, learning_rate_params: { '200': 1e-4, '0': 1e-3, '100': 5e-4 } };
  // boundaries [0,100,200], values [1e-3, 1e-3, 5e-4, 1e-4]: a key's rate applies after that step
  const steps = [0, 1, 50, 100, 101, 200, 201, 10_000];
  assert.deepEqual(steps.map((s) => learningRateAt(piecewise, s)), [1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4, 1e-4, 1e-4]);
  // configs/gerty_knl_224_adam_small.json (seed v2d): polynomial, power 1, {1: 1e-4, 1000: 2e-4}
  const gerty = loadConfig(path.join(configsDir, 'gerty_knl_224_adam_small.json'), quiet());
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-15, `${a} vs ${b}`);
  close(learningRateAt(gerty.learning_rate, 0), 1e-4);
  close(learningRateAt(gerty.learning_rate, 500), 1.5e-4);
  close(learningRateAt(gerty.learning_rate, 1000), 2e-4);
  close(learningRateAt(gerty.learning_rate, 5000), 2e-4);
  const squared = { mode: 'polynomial' as const, power: 2, learning_rate_params: { '0': 1e-2, '100': 0, '50': 5 } };
  // start rates[0]=1e-2, end rates[-1]=0 (intermediate keys do not matter), (1-25/100)^2 = 0.5625
  close(learningRateAt({ ...squared, learning_rate_params: { '0': 1e-2, '50': 5, '100': 1e-9 } }, 25), (1e-2 - 1e-9) * 0.5625 + 1e-9);
  assert.throws(() => learningRateAt(piecewise, -1), /step must be ≥ 0, got -1/);
});

test('derivedValues: per-node batch, steps_per_epoch, last_step (v2) and v1 last_step', () => {
  const base = validateConfig(seedRaw(), 'x.json', quiet());
  const d1 = derivedValues(base, 4);
  assert.deepEqual(d1, {
    perNodeBatch: 128,
    validationPerNodeBatch: 128,
    stepsPerEpoch: Math.floor(726016 / 512),
    lastStep: Math.floor(726016 / 512) * 200,
    lastStepV1: Math.floor((726016 * 200) / 512),
    checkpointInterval: 1418,
  });
  const global = validateConfig({ ...seedRaw('cori_haswell_64'), trainsamples: 1000, num_epochs: 3, train_batch_size: 64, validation_batch_size: 30 }, 'g.json', quiet());
  const d2 = derivedValues(global, 4);
  assert.equal(d2.perNodeBatch, 16);
  assert.equal(d2.validationPerNodeBatch, 7);
  assert.equal(d2.stepsPerEpoch, 15); // 1000 // 64
  assert.equal(d2.lastStep, 45);
  assert.equal(d2.lastStepV1, 46); // int(1000*3/64): the v1 count runs past the v2 one
  assert.deepEqual(errorsOf(() => derivedValues(global, 40)), [
    'g.json: validation_batch_size is a global batch (batch_size_per_node false) and must be at least the number of workers (40), got 30',
  ]);
  const spares = validateConfig({ ...seedRaw(), num_hot_spares: 2 }, 's.json', quiet());
  assert.deepEqual(errorsOf(() => derivedValues(spares, 2)), ['s.json: num_hot_spares must be smaller than the number of workers (2), got 2']);
  assert.equal(derivedValues(spares, 1).perNodeBatch, 128, 'a single worker ignores hot spares, as the seed does');
  assert.throws(() => derivedValues(base, 0), /workers must be a positive integer, got 0/);
});

test('configSummaryLines prints every key as "k: v"', () => {
  const c: HepConfig = validateConfig(seedRaw(), 'x.json', quiet());
  const lines = configSummaryLines(c);
  assert.ok(lines.includes('arch: hsw'));
  assert.ok(lines.includes('input_shape: [3,224,224]'));
  assert.equal(lines.length, Object.keys(c).length);
});

test('docs/config.md embeds the schema table and mentions every key', () => {
  const docs = fs.readFileSync(path.join(root, 'docs/config.md'), 'utf8');
  assert.ok(docs.includes(schemaMarkdown()), 'docs/config.md is out of date: paste the output of schemaMarkdown()');
});

test('overrideConfig applies dotted and merged overrides and validates again', () => {
  const base = loadConfig(path.join(configsDir, 'cori_haswell_64.json'), quiet());
  const small = overrideConfig(base, { num_epochs: 2, 'conv_params.num_filters': 16, learning_rate: { mode: 'piecewise', learning_rate_params: { '0': 1e-3 } } });
  assert.equal(small.num_epochs, 2);
  assert.equal(small.conv_params.num_filters, 16);
  assert.equal(small.conv_params.data_format, 'NCHW');
  assert.equal(base.conv_params.num_filters, 128, 'the original is untouched');
  const merged = overrideConfig(base, { conv_params: { filter_size: 5 } });
  assert.deepEqual([merged.conv_params.filter_size, merged.conv_params.num_filters], [5, 128]);
  const file = path.join(configsDir, 'cori_haswell_64.json');
  assert.deepEqual(errorsOf(() => overrideConfig(base, { 'conv_params.num_filters': 0, num_epoch: 3 })), [
    `${file} (overrides): num_epoch is not a known key (did you mean "num_epochs"?)`,
    `${file} (overrides): conv_params.num_filters must be a positive integer, got 0`,
  ]);
});
