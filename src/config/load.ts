import * as fs from 'node:fs';
import { ConfigError } from './errors';
import { parseJsonStrict } from './json';
import type { HepConfig } from './types';
import { ValidateOptions, configSource, validateConfig } from './validate';

/** Reads, parses and validates a config file; errors name `path`. */
export function loadConfig(path: string, opts: ValidateOptions = {}): HepConfig {
  let text: string;
  try {
    text = fs.readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (err as Error).message;
    throw ConfigError.single(path, '', `cannot read the config: ${why}`);
  }
  return validateConfig(parseJsonStrict(text, path), path, opts);
}

/** Optimizers the hpcdl training loop implements. */
export const SUPPORTED_OPTIMIZERS: readonly string[] = ['ADAM'];

/**
 * Throws when the config asks for something the training loop cannot do on
 * `backendName` (today: any optimizer but ADAM, e.g. the seed's KFAC config).
 */
export function assertTrainable(config: HepConfig, backendName: string): void {
  if (!SUPPORTED_OPTIMIZERS.includes(config.optimizer)) {
    throw ConfigError.single(
      configSource(config),
      '',
      `optimizer ${config.optimizer} is not supported on backend ${backendName}; use ADAM`,
    );
  }
}

/** `key: value` lines for every config key, as the seed v2 prints at start. */
export function configSummaryLines(config: HepConfig): string[] {
  return Object.entries(config).map(([key, value]) => `${key}: ${typeof value === 'object' ? JSON.stringify(value) : String(value)}`);
}
