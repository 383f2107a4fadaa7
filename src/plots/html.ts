import * as fs from 'node:fs';
import * as path from 'node:path';
import type { PlotlyFigure } from './types';

let plotlySource: string | undefined;

/** plotly.js itself, from the plotly.js-dist-min package (read once). */
function plotlyJs(): string {
  if (plotlySource === undefined) {
    const file = require.resolve('plotly.js-dist-min/plotly.min.js');
    // a literal "</script" would end the inline script early
    plotlySource = fs.readFileSync(file, 'utf8').replace(/<\/script/gi, '<\\/script');
  }
  return plotlySource;
}

/**
 * A self-contained HTML page showing `figures`: plotly.js is inlined (no CDN,
 * no network), so the file opens offline and can be mailed around. ~4.8 MB.
 */
export function figuresHtml(figures: PlotlyFigure[], title = 'hpcdl', opts: { intro?: string } = {}): string {
  const divs = figures.map((_, i) => `<div id="figure-${i}" class="figure"></div>`).join('\n');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>${escapeHtml(title)}</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
.figure { width: 100%; max-width: 960px; min-height: 480px; margin-bottom: 2em; }
table { border-collapse: collapse; margin-bottom: 2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
</style>
<script>${plotlyJs()}</script>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
${opts.intro ?? ''}
${divs}
<script>
const figures = ${scriptSafeJson(figures)};
figures.forEach((figure, i) => {
  Plotly.newPlot('figure-' + i, figure.data, figure.layout, { responsive: true, displaylogo: false });
});
</script>
</body>
</html>
`;
}

/** Writes `figuresHtml(figures, title)` to `file` (directories are created). */
export function writeFiguresHtml(file: string, figures: PlotlyFigure[], title?: string, opts: { intro?: string } = {}): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, figuresHtml(figures, title, opts));
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that cannot close the script element or break the JS parser. */
function scriptSafeJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}
