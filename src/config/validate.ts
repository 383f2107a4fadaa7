import { ConfigError, ConfigIssue, issue, showValue } from './errors';
import { CONFIG_SCHEMA, FieldSpec, FieldType, SchemaTable, describeType } from './schema';
import { closestKey } from './suggest';
import type { HepConfig } from './types';

export interface ValidateOptions {
  /** receives one line per normalisation warning (default: stderr) */
  warn?: (line: string) => void;
}

const sources = new WeakMap<object, string>();

/** The file a validated config came from ('<unknown>' for hand-made objects). */
export function configSource(config: HepConfig): string {
  return sources.get(config) ?? '<unknown>';
}

/**
 * Checks `raw` against the schema and returns a normalised copy: missing
 * `optimizer` becomes ADAM (with a warning) and optional fields with a
 * documented default are filled in. Every problem is collected; a
 * `ConfigError` lists them all, each naming `source` and the key path.
 */
export function validateConfig(raw: unknown, source: string, opts: ValidateOptions = {}): HepConfig {
  const warn = opts.warn ?? ((line: string) => process.stderr.write(`${line}\n`));
  const checker = new Checker(source, warn);
  if (!isPlainObject(raw)) {
    throw new ConfigError([issue(source, '', `the top level must be a JSON object, got ${showValue(raw)}`)]);
  }
  const config = checker.checkObject(raw, CONFIG_SCHEMA, '');
  if (checker.issues.length === 0) checker.checkCrossFields(config as unknown as HepConfig);
  if (checker.issues.length > 0) throw new ConfigError(checker.issues);
  sources.set(config, source);
  return config as unknown as HepConfig;
}

class Checker {
  readonly issues: ConfigIssue[] = [];

  constructor(private readonly source: string, private readonly warn: (line: string) => void) {}

  private report(path: string, what: string): void {
    this.issues.push(issue(this.source, path, what));
  }

  checkObject(raw: Record<string, unknown>, table: SchemaTable, prefix: string): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(raw)) {
      if (!Object.prototype.hasOwnProperty.call(table, key)) this.reportUnknownKey(prefix + key, key, Object.keys(table));
    }
    for (const [key, spec] of Object.entries(table)) {
      const path = prefix + key;
      if (Object.prototype.hasOwnProperty.call(raw, key)) {
        const value = this.checkValue(raw[key], spec.kind, path);
        if (value !== undefined) out[key] = value;
      } else {
        this.handleMissing(out, key, path, spec);
      }
    }
    return out;
  }

  private handleMissing(out: Record<string, unknown>, key: string, path: string, spec: FieldSpec): void {
    if (spec.required === true) {
      this.report(path, `is missing; expected ${describeType(spec.kind)}`);
    } else if (spec.required === 'normalised') {
      out[key] = spec.default;
      this.warn(`${this.source}: ${path} is missing; using ${showValue(spec.default)} (the seed's v1 scripts stop with a KeyError here)`);
    } else if (spec.default !== undefined) {
      out[key] = spec.default;
    }
  }

  private reportUnknownKey(path: string, key: string, known: string[]): void {
    const suggestion = closestKey(key, known);
    const hint = suggestion ? `did you mean "${suggestion}"?` : 'see docs/config.md for the known keys';
    this.report(path, `is not a known key (${hint})`);
  }

  /** Returns the (normalised) value, or undefined after reporting a problem. */
  private checkValue(value: unknown, kind: FieldType, path: string): unknown {
    const bad = () => {
      this.report(path, `must be ${describeType(kind)}, got ${showValue(value)}`);
      return undefined;
    };
    switch (kind.type) {
      case 'integer':
        return isInteger(value) && inRange(value, kind) ? value : bad();
      case 'number':
        return isFiniteNumber(value) && inRange(value, kind) ? value : bad();
      case 'string':
        return typeof value === 'string' && (!kind.nonEmpty || value.length > 0) ? value : bad();
      case 'boolean':
        return typeof value === 'boolean' ? value : bad();
      case 'enum':
        return typeof value === 'string' && kind.values.includes(value) ? value : this.badEnum(value, kind.values, path);
      case 'shape3':
        return Array.isArray(value) && value.length === 3 && value.every((d) => isInteger(d) && d >= 1) ? [...value] : bad();
      case 'object':
        return isPlainObject(value) ? this.checkObject(value, kind.fields, `${path}.`) : bad();
      case 'learningRate':
        return this.checkLearningRate(value, kind, path);
      case 'stepRates':
        return this.checkStepRates(value, path);
    }
  }

  private badEnum(value: unknown, values: readonly string[], path: string): undefined {
    const suggestion = typeof value === 'string' ? closestKey(value, [...values]) : undefined;
    const hint = suggestion ? ` (did you mean "${suggestion}"?)` : '';
    this.report(path, `must be ${describeType({ type: 'enum', values })}, got ${showValue(value)}${hint}`);
    return undefined;
  }

  private checkLearningRate(value: unknown, kind: Extract<FieldType, { type: 'learningRate' }>, path: string): unknown {
    if (isFiniteNumber(value)) {
      if (value > 0) return value;
      this.report(path, `must be a positive number, got ${showValue(value)}`);
      return undefined;
    }
    if (isPlainObject(value)) {
      const before = this.issues.length;
      const schedule = this.checkObject(value, kind.schedule, `${path}.`);
      if (this.issues.length === before) this.checkScheduleSteps(schedule, path);
      return schedule;
    }
    this.report(path, `must be ${describeType(kind)}, got ${showValue(value)}`);
    return undefined;
  }

  private checkStepRates(value: unknown, path: string): unknown {
    if (!isPlainObject(value) || Object.keys(value).length === 0) {
      this.report(path, `must be ${describeType({ type: 'stepRates' })}, got ${showValue(value)}`);
      return undefined;
    }
    const out: Record<string, number> = {};
    for (const [step, rate] of Object.entries(value)) {
      if (!/^(0|[1-9]\d*)$/.test(step)) {
        this.report(`${path}.${step}`, `is not a step number: keys must be non-negative integers, got ${showValue(step)}`);
      } else if (!isFiniteNumber(rate) || rate <= 0) {
        this.report(`${path}.${step}`, `must be a positive number, got ${showValue(rate)}`);
      } else {
        out[step] = rate;
      }
    }
    return out;
  }

  private checkScheduleSteps(schedule: Record<string, unknown>, path: string): void {
    const steps = Object.keys(schedule.learning_rate_params as Record<string, number>).map(Number);
    if (schedule.mode === 'polynomial' && Math.max(...steps) <= 0) {
      this.report(`${path}.learning_rate_params`, `must have a last step > 0 for polynomial decay, got ${showValue(schedule.learning_rate_params)}`);
    }
  }

  /** Rules between fields; run only when every field is individually valid. */
  checkCrossFields(config: HepConfig): void {
    this.checkShapeMatchesLayout(config);
    if (!config.scaling_improvements && config.num_fc_units === undefined) {
      this.report('num_fc_units', 'is missing; expected a positive integer (required when scaling_improvements is false)');
    }
    if (config.optimizer === 'KFAC') {
      for (const key of ['cov_ema_decay', 'damping', 'kfac_inv_update_frequency'] as const) {
        if (config[key] === undefined) {
          this.report(key, `is missing; expected ${describeType(CONFIG_SCHEMA[key].kind)} (required when optimizer is KFAC)`);
        }
      }
    }
  }

  private checkShapeMatchesLayout(config: HepConfig): void {
    const layout = config.conv_params.data_format;
    const shape = config.input_shape;
    const [channels, height, width] = layout === 'NCHW' ? shape : [shape[2], shape[0], shape[1]];
    const expected = layout === 'NCHW' ? '[C,H,W]' : '[H,W,C]';
    if (channels > 16) {
      const other = layout === 'NCHW' ? 'NHWC' : 'NCHW';
      this.report(
        'input_shape',
        `must be ${expected} for conv_params.data_format ${layout} (C = channels, at most 16; is the layout ${other}?), got ${showValue(shape)}`,
      );
      return;
    }
    const minSide = 2 ** config.num_layers;
    if (height < minSide || width < minSide) {
      this.report(
        'input_shape',
        `is too small for num_layers ${config.num_layers}: H and W must be at least ${minSide} (each layer halves them), got ${showValue(shape)}`,
      );
    }
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function inRange(value: number, kind: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }): boolean {
  if (kind.min !== undefined && (kind.minExclusive ? value <= kind.min : value < kind.min)) return false;
  if (kind.max !== undefined && (kind.maxExclusive ? value >= kind.max : value > kind.max)) return false;
  return true;
}
