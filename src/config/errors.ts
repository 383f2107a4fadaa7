/** One problem found in a config file. */
export interface ConfigIssue {
  /** the file (or other source) the config came from */
  source: string;
  /** dotted key path, e.g. `conv_params.num_filters`; '' for the whole file */
  path: string;
  /** the complete one-line message, `<source>: <path> <what is wrong>` */
  message: string;
}

/**
 * A config that cannot be used. `issues` holds every problem found (not only
 * the first); `message` is their messages, one per line.
 */
export class ConfigError extends Error {
  readonly issues: ConfigIssue[];

  constructor(issues: ConfigIssue[]) {
    super(issues.map((i) => i.message).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }

  static single(source: string, path: string, what: string): ConfigError {
    return new ConfigError([issue(source, path, what)]);
  }
}

export function issue(source: string, path: string, what: string): ConfigIssue {
  const where = path ? `${source}: ${path} ` : `${source}: `;
  return { source, path, message: where + what };
}

/** A value as it appears in a message: JSON, shortened when long. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
