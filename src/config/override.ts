import type { HepConfig } from './types';
import { ValidateOptions, configSource, validateConfig } from './validate';

/**
 * A copy of `config` with `overrides` applied and validated again, for CLI
 * flags and hyperparameter searches. Keys may be dotted paths
 * (`"conv_params.num_filters": 32`); an object given for `conv_params` is
 * merged into it, any other value replaces the key. Problems are reported
 * against `<source> (overrides)`.
 */
export function overrideConfig(config: HepConfig, overrides: Record<string, unknown>, opts: ValidateOptions = {}): HepConfig {
  const merged = structuredClone(config) as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const parts = key.split('.');
    let target = merged;
    for (const part of parts.slice(0, -1)) {
      const next = target[part];
      if (typeof next !== 'object' || next === null || Array.isArray(next)) target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1];
    const existing = target[last];
    const bothObjects = isObject(existing) && isObject(value) && key === 'conv_params';
    target[last] = bothObjects ? { ...existing, ...value } : structuredClone(value);
  }
  return validateConfig(merged, `${configSource(config)} (overrides)`, opts);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
