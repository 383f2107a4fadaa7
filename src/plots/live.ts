/**
 * Live notebook displays that update in place while a cell runs:
 * `LiveFigure` (plotly), `LiveTable` (e.g. the trial table of a scan) and
 * `ProgressBar`. See live-output.ts for throttling and live-plotly.ts for how
 * plotly.js reaches the browser without a CDN.
 *
 *   const fig = new LiveFigure(trainingCurvesFigure(series));
 *   for (...) { ...; fig.update(trainingCurvesFigure(series)); }
 *   fig.close();   // optional: the kernel flushes pending updates when the cell ends
 */
import type { DisplayChannel } from '../notebook-hooks';
import { escapeHtml, LiveOutput, type LiveOutputOptions, type MimeBundle } from './live-output';
import { ensurePlotlyLoader, figureBundle, type FigureJson } from './live-plotly';

export { DEFAULT_MAX_UPDATES_PER_SECOND, LiveOutput, type LiveOutputOptions, type MimeBundle } from './live-output';
export { PLOTLY_MIME, figureBundle, type FigureJson } from './live-plotly';

export class LiveFigure extends LiveOutput {
  private current: FigureJson;

  constructor(figure: FigureJson, options: LiveOutputOptions = {}) {
    super(options);
    this.current = checkFigure(figure);
    if (options.show !== false) this.show();
  }

  /** The latest figure (also outside a kernel, where nothing is displayed). */
  get figure(): FigureJson {
    return this.current;
  }

  /** Replaces the figure, or changes it in place with `(fig) => { ... }`. */
  update(next: FigureJson | ((figure: FigureJson) => FigureJson | void)): this {
    if (typeof next === 'function') {
      const result = next(this.current);
      this.current = checkFigure(result ?? this.current);
    } else {
      this.current = checkFigure(next);
    }
    this.changed();
    return this;
  }

  protected override beforeFirstShow(channel: DisplayChannel): void {
    ensurePlotlyLoader(channel);
  }

  protected render(): MimeBundle {
    const title = titleOf(this.current.layout);
    const points = this.current.data.reduce((n: number, trace) => n + traceLength(trace), 0);
    return figureBundle(this.current, `<Figure${title ? ` "${title}"` : ''}: ${this.current.data.length} traces, ${points} points>`);
  }
}

/** Displays a static figure (a LiveFigure that is never updated). */
export function displayFigure(figure: FigureJson, options: LiveOutputOptions = {}): LiveFigure {
  return new LiveFigure(figure, options);
}

export type TableCell = string | number | boolean | null | undefined;
export type TableRow = Record<string, TableCell>;

export interface LiveTableOptions extends LiveOutputOptions {
  /** Column order; columns first seen in rows are appended. */
  columns?: string[];
  /** Column whose value identifies a row for `upsert` (default 'id'). */
  key?: string;
  title?: string;
  /** Digits for non-integer numbers (default 4). */
  precision?: number;
}

export class LiveTable extends LiveOutput {
  private readonly rowsByKey = new Map<string, TableRow>();
  private readonly columns: string[];
  private readonly key: string;
  private readonly precision: number;
  private readonly title: string | undefined;

  constructor(options: LiveTableOptions = {}) {
    super(options);
    this.columns = [...(options.columns ?? [])];
    this.key = options.key ?? 'id';
    this.precision = options.precision ?? 4;
    this.title = options.title;
    if (options.show !== false) this.show();
  }

  get rows(): TableRow[] {
    return Array.from(this.rowsByKey.values());
  }

  /** Adds the row, or merges it into the row with the same key. */
  upsert(row: TableRow): this {
    const keyValue = row[this.key];
    if (keyValue === undefined || keyValue === null) {
      throw new Error(`LiveTable.upsert: row has no "${this.key}" key column: ${JSON.stringify(row)}`);
    }
    const id = String(keyValue);
    this.rowsByKey.set(id, { ...(this.rowsByKey.get(id) ?? {}), ...row });
    this.addColumns(row);
    this.changed();
    return this;
  }

  /** Replaces all rows. */
  setRows(rows: TableRow[]): this {
    this.rowsByKey.clear();
    rows.forEach((row, i) => {
      const keyValue = row[this.key];
      this.rowsByKey.set(keyValue === undefined || keyValue === null ? `#${i}` : String(keyValue), { ...row });
      this.addColumns(row);
    });
    this.changed();
    return this;
  }

  protected render(): MimeBundle {
    const rows = this.rows;
    const cells = rows.map((row) => this.columns.map((c) => this.format(row[c])));
    return { 'text/html': this.html(cells), 'text/plain': this.plain(cells) };
  }

  private addColumns(row: TableRow): void {
    for (const column of Object.keys(row)) if (!this.columns.includes(column)) this.columns.push(column);
  }

  private format(value: TableCell): string {
    if (value === undefined || value === null) return '';
    // `precision` significant digits without padding zeros: 3e-4 → 0.0003 (not 0.0003000), 0.91234 → 0.9123
    if (typeof value === 'number' && !Number.isInteger(value)) return String(Number(value.toPrecision(this.precision)));
    return String(value);
  }

  private html(cells: string[][]): string {
    const head = this.columns.map((c) => `<th>${escapeHtml(c)}</th>`).join('');
    const body = cells.map((r) => `<tr>${r.map((v) => `<td>${escapeHtml(v)}</td>`).join('')}</tr>`).join('\n');
    const caption = this.title ? `<caption>${escapeHtml(this.title)}</caption>` : '';
    return `<table class="hpcdl-live-table">${caption}<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody></table>`;
  }

  private plain(cells: string[][]): string {
    const widths = this.columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
    const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
    const lines = [line(this.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)];
    return (this.title ? [this.title, ...lines] : lines).join('\n');
  }
}

export interface ProgressBarOptions extends LiveOutputOptions {
  total: number;
  label?: string;
}

export class ProgressBar extends LiveOutput {
  private done = 0;
  private total: number;
  private label: string;
  private readonly startedAt = Date.now();

  constructor(options: ProgressBarOptions) {
    super(options);
    if (!(options.total >= 0)) throw new RangeError(`ProgressBar: total must be >= 0, got ${options.total}`);
    this.total = options.total;
    this.label = options.label ?? '';
    if (options.show !== false) this.show();
  }

  get value(): number {
    return this.done;
  }

  /** Sets the progress (and optionally a new label or total). */
  update(value: number, changes: { label?: string; total?: number } = {}): this {
    if (changes.total !== undefined) this.total = changes.total;
    if (changes.label !== undefined) this.label = changes.label;
    this.done = Math.max(0, Math.min(value, this.total));
    this.changed();
    return this;
  }

  increment(by = 1): this {
    return this.update(this.done + by);
  }

  protected render(): MimeBundle {
    const fraction = this.total > 0 ? this.done / this.total : 1;
    const percent = Math.round(fraction * 100);
    const elapsed = (Date.now() - this.startedAt) / 1000;
    const eta = this.done > 0 && this.done < this.total ? (elapsed / this.done) * (this.total - this.done) : 0;
    const status = `${this.done}/${this.total} (${percent}%)` + (eta > 0 ? `, ${formatSeconds(eta)} left` : '');
    const width = 30;
    const filled = Math.round(fraction * width);
    const plain = `${this.label ? this.label + ' ' : ''}[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${status}`;
    const html = `<div class="hpcdl-progress" style="font-family:monospace">${escapeHtml(this.label)}
<div style="display:inline-block;width:240px;height:12px;border:1px solid #888;vertical-align:middle">
<div style="width:${(fraction * 100).toFixed(1)}%;height:100%;background:#4a90d9"></div></div> ${escapeHtml(status)}</div>`;
    return { 'text/html': html, 'text/plain': plain };
  }
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

function checkFigure(figure: FigureJson): FigureJson {
  if (!figure || !Array.isArray(figure.data)) {
    throw new TypeError(`LiveFigure: expected a plotly figure {data: [...], layout?: {...}}, got ${JSON.stringify(figure)?.slice(0, 120)}`);
  }
  return figure;
}

function titleOf(layout: object | undefined): string {
  const title = (layout as { title?: unknown } | undefined)?.title;
  if (typeof title === 'string') return title;
  if (title && typeof (title as { text?: unknown }).text === 'string') return (title as { text: string }).text;
  return '';
}

function traceLength(trace: object): number {
  const y = (trace as { y?: unknown }).y;
  return Array.isArray(y) || ArrayBuffer.isView(y) ? (y as ArrayLike<unknown>).length : 0;
}
