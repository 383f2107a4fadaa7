/**
 * Plotly in notebooks without a CDN.
 *
 * Every figure output carries `application/vnd.plotly.v1+json` (rendered
 * natively by JupyterLab's plotly renderer) and a `text/html` fallback for
 * the classic notebook UI. The fallback does not carry plotly.js itself
 * (4.7 MB per update would flood the browser); instead, once per kernel
 * process, a loader output with plotly.js inlined from the
 * plotly.js-dist-min package is displayed just before the first figure. It
 * defines `window.Plotly` and fires a `hpcdl-plotly-ready` event; figure
 * fallbacks draw immediately if Plotly is there, or on that event.
 *
 * Reopened notebooks: the loader output is saved in the notebook too, in the
 * cell of the first figure, above it, so a trusted notebook renders again
 * with no network. Figures of earlier cells whose loader lives further down
 * (e.g. after a kernel restart) wait for the event, so they render as well.
 * Untrusted notebooks do not run scripts in HTML outputs; there the plotly
 * MIME renderer (JupyterLab) still works, and the classic UI shows the
 * text/plain summary until the notebook is trusted.
 */
import fs from 'node:fs';
import type { DisplayChannel } from '../notebook-hooks';
import { scriptSafeJson, type MimeBundle } from './live-output';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';
export const PLOTLY_READY_EVENT = 'hpcdl-plotly-ready';

export interface FigureJson {
  data: object[];
  layout?: object;
  config?: object;
}

const LOADER_SHOWN = Symbol.for('hpcdl.plots.plotlyLoaderShown');
let plotlySource: string | null = null;

function plotlyJs(): string {
  if (plotlySource === null) {
    const file = require.resolve('plotly.js-dist-min/plotly.min.js');
    plotlySource = fs.readFileSync(file, 'utf8').replace(/<\/script/gi, '<\\/script');
  }
  return plotlySource;
}

/** The HTML of the loader output (plotly.js inlined). */
export function plotlyLoaderHtml(): string {
  return `<script type="text/javascript">
if (!window.Plotly) {
${plotlyJs()}
}
window.dispatchEvent(new Event(${JSON.stringify(PLOTLY_READY_EVENT)}));
</script>`;
}

/** Displays the plotly.js loader once per kernel process on `channel`. */
export function ensurePlotlyLoader(channel: DisplayChannel): void {
  const holder = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (holder[LOADER_SHOWN]) return;
  channel.publish(
    { data: { 'text/html': plotlyLoaderHtml(), 'text/plain': '(plotly.js loaded for hpcdl figures)' }, metadata: {} },
    false,
  );
  holder[LOADER_SHOWN] = true;
}

let renderCounter = 0;

/** The MIME bundle of one figure: plotly JSON, HTML fallback, text summary. */
export function figureBundle(figure: FigureJson, summary: string): MimeBundle {
  const divId = `hpcdl-fig-${process.pid}-${Date.now().toString(36)}-${(renderCounter++).toString(36)}`;
  const layout = withTitleObjects(figure.layout ?? {});
  const config = { displaylogo: false, responsive: true, ...(figure.config ?? {}) };
  const html = `<div id="${divId}" class="hpcdl-figure" style="min-height:360px"></div>
<script type="text/javascript">
(function () {
  var figure = ${scriptSafeJson({ data: figure.data, layout, config })};
  function draw() {
    var el = document.getElementById(${JSON.stringify(divId)});
    if (el) window.Plotly.react(el, figure.data, figure.layout, figure.config);
  }
  if (window.Plotly) draw();
  else window.addEventListener(${JSON.stringify(PLOTLY_READY_EVENT)}, draw, { once: true });
})();
</script>`;
  return {
    [PLOTLY_MIME]: { data: figure.data, layout, config },
    'text/html': html,
    'text/plain': summary,
  };
}

/**
 * plotly.js 3+ ignores plain-string titles (`title: "loss"`); accept them, as
 * plotly.py does, by converting to `{text}` for the layout and its axes.
 */
function withTitleObjects(layout: object): object {
  const fix = (o: Record<string, unknown>): Record<string, unknown> =>
    typeof o.title === 'string' ? { ...o, title: { text: o.title } } : o;
  const out: Record<string, unknown> = fix({ ...(layout as Record<string, unknown>) });
  for (const [key, value] of Object.entries(out)) {
    if (/^[xyz]axis\d*$/.test(key) && value && typeof value === 'object') out[key] = fix(value as Record<string, unknown>);
  }
  return out;
}
