/** In-memory input/output history for `history_request` (one session per kernel process). */

export type HistoryEntry = [number, number, string | [string, string | null]];

interface Record_ {
  line: number;
  input: string;
  output: string | null;
}

export interface HistoryQuery {
  hist_access_type?: 'range' | 'tail' | 'search';
  output?: boolean;
  session?: number;
  start?: number;
  stop?: number;
  n?: number;
  pattern?: string;
  unique?: boolean;
}

export const HISTORY_SESSION = 1;

export class History {
  private readonly records: Record_[] = [];

  add(line: number, input: string): void {
    this.records.push({ line, input, output: null });
  }

  setOutput(line: number, output: string): void {
    const record = this.records.find((r) => r.line === line);
    if (record) record.output = output;
  }

  query(q: HistoryQuery): HistoryEntry[] {
    const toEntry = (r: Record_): HistoryEntry =>
      [HISTORY_SESSION, r.line, q.output ? [r.input, r.output] : r.input];
    switch (q.hist_access_type) {
      case 'tail':
        return this.last(this.records, q.n).map(toEntry);
      case 'range':
        return this.range(q).map(toEntry);
      case 'search':
        return this.search(q).map(toEntry);
      default:
        return [];
    }
  }

  private last<T>(items: T[], n: number | undefined): T[] {
    if (n === undefined || n === null) return items.slice();
    return n <= 0 ? [] : items.slice(-n);
  }

  private range(q: HistoryQuery): Record_[] {
    // Session 0 and negative sessions mean "this session" in IPython's convention too.
    const session = q.session ?? 0;
    if (session > 0 && session !== HISTORY_SESSION) return [];
    const start = q.start ?? 1;
    const stop = q.stop ?? Number.POSITIVE_INFINITY;
    return this.records.filter((r) => r.line >= start && r.line < stop);
  }

  private search(q: HistoryQuery): Record_[] {
    const matcher = globToRegExp(q.pattern ?? '*');
    let found = this.records.filter((r) => matcher.test(r.input));
    if (q.unique) {
      const latestByInput = new Map<string, Record_>();
      for (const r of found) latestByInput.set(r.input, r);
      found = found.filter((r) => latestByInput.get(r.input) === r);
    }
    return this.last(found, q.n);
  }
}

/** Glob as in IPython's history search (SQLite GLOB): `*`, `?`, `[...]`. */
export function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') source += '[\\s\\S]*';
    else if (c === '?') source += '[\\s\\S]';
    else if (c === '[') {
      const close = pattern.indexOf(']', i + 1);
      if (close < 0) source += '\\[';
      else {
        const body = pattern.slice(i + 1, close).replace(/\\/g, '\\\\');
        source += body.startsWith('^') ? `[^${body.slice(1)}]` : `[${body}]`;
        i = close;
      }
    } else source += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}
