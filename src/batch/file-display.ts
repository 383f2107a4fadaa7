/**
 * The display channel of a batch script (make_scripts' output): where the
 * notebook shows a figure, the script writes it as a self-contained HTML page
 * (plotly.js inlined, opens offline) and, at the end, its final state as JSON,
 * printing one line naming each file; a live table prints as text.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { DisplayChannel, DisplayContent } from '../notebook-hooks';
import { writeFiguresHtml } from '../plots/html';
import { PLOTLY_MIME } from '../plots/live-plotly';
import type { PlotlyFigure } from '../plots/types';

/** A live table reprints at most this often (a 20-epoch training updates its table hundreds of times). */
const TABLE_REPRINT_MS = 30_000;

interface Shown {
  kind: 'figure' | 'text';
  file?: string;
  latest: DisplayContent;
  /** content changed since the file was written / the text printed */
  dirty: boolean;
  printedAt: number;
}

function slug(text: string): string {
  return text.toLowerCase().replace(/<[^>]*>/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 48) || 'figure';
}

function figureTitle(figure: PlotlyFigure): string {
  const title = (figure.layout as { title?: string | { text?: string } } | undefined)?.title;
  return typeof title === 'string' ? title : title?.text ?? '';
}

export class FileDisplayChannel implements DisplayChannel {
  private readonly shown = new Map<string, Shown>();
  private anonymous = 0;

  /** `dir`: where figures go; `print`: where the one-line notices and tables go. */
  constructor(readonly dir: string, private readonly print: (line: string) => void = (l) => console.log(l)) {}

  publish(content: DisplayContent, update: boolean): void {
    const id = content.transient?.display_id ?? (update ? undefined : `anonymous-${this.anonymous++}`);
    if (!id) return;
    const figure = content.data[PLOTLY_MIME] as PlotlyFigure | undefined;
    const known = this.shown.get(id);
    if (known) {
      known.latest = content;
      known.dirty = true;
      if (known.kind === 'text' && Date.now() - known.printedAt >= TABLE_REPRINT_MS) this.printText(known);
      return;
    }
    if (figure) {
      const entry: Shown = { kind: 'figure', latest: content, dirty: false, printedAt: 0 };
      entry.file = path.join(this.dir, `${String(this.figureCount() + 1).padStart(2, '0')}-${slug(figureTitle(figure))}.html`);
      this.shown.set(id, entry);
      this.writeFigure(entry);
      this.print(`figure: ${entry.file}`);
      return;
    }
    // The plotly loader (no display id) has nothing to show in a log.
    if (!content.transient?.display_id || typeof content.data['text/plain'] !== 'string') return;
    const entry: Shown = { kind: 'text', latest: content, dirty: false, printedAt: 0 };
    this.shown.set(id, entry);
    this.printText(entry);
  }

  /** Writes the final state of every figure (HTML and JSON) and reprints changed tables. */
  finish(): string[] {
    const written: string[] = [];
    for (const entry of this.shown.values()) {
      if (entry.kind === 'text') {
        if (entry.dirty) this.printText(entry);
        continue;
      }
      if (entry.dirty) this.writeFigure(entry);
      const json = entry.file!.replace(/\.html$/, '.json');
      fs.writeFileSync(json, JSON.stringify(entry.latest.data[PLOTLY_MIME], null, 1));
      this.print(`figure data: ${json}`);
      written.push(entry.file!, json);
    }
    return written;
  }

  private figureCount(): number {
    return [...this.shown.values()].filter((s) => s.kind === 'figure').length;
  }

  private writeFigure(entry: Shown): void {
    const figure = entry.latest.data[PLOTLY_MIME] as PlotlyFigure;
    writeFiguresHtml(entry.file!, [figure], figureTitle(figure) || path.basename(entry.file!, '.html'));
    entry.dirty = false;
  }

  private printText(entry: Shown): void {
    this.print(String(entry.latest.data['text/plain']));
    entry.dirty = false;
    entry.printedAt = Date.now();
  }
}
