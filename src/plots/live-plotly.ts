/**
 * Plotly in notebooks without a CDN and without 5 MB notebooks.
 *
 * Every figure output carries `application/vnd.plotly.v1+json` (rendered
 * natively by JupyterLab's plotly renderer) and a `text/html` fallback for
 * the classic notebook UI. The fallback does not carry plotly.js: `hpcdl
 * kernel install` puts plotly.min.js beside the kernel spec, in
 * `<share/jupyter>/nbextensions/hpcdl/`, which the Jupyter server serves at
 * `<base url>/nbextensions/hpcdl/plotly.min.js`. Each figure's script loads it
 * from there once per page (a plain script element: plotly.js 4 sets
 * `window.Plotly` and needs no require.js) and draws when it has loaded, so a
 * saved notebook holds only the figures' data and a reopened one renders with
 * no kernel and no network. Where that path is not served (JupyterLab without
 * nbextension support, exported HTML), `HPCDL_PLOTLY_INLINE=1` in the
 * kernel's environment brings back the inline loader: plotly.js (4.7 MB)
 * displayed once per kernel process before the first figure.
 *
 * Untrusted notebooks do not run scripts in HTML outputs; there the plotly
 * MIME renderer (JupyterLab) still works, and the classic UI shows the
 * text/plain summary until the notebook is trusted.
 */
import fs from 'node:fs';
import type { DisplayChannel } from '../notebook-hooks';
import { scriptSafeJson, type MimeBundle } from './live-output';

export const PLOTLY_MIME = 'application/vnd.plotly.v1+json';
export const PLOTLY_READY_EVENT = 'hpcdl-plotly-ready';
/** Where `hpcdl kernel install` puts plotly.js, relative to a Jupyter data dir (share/jupyter). */
export const PLOTLY_NBEXTENSION_PATH = ['nbextensions', 'hpcdl', 'plotly.min.js'] as const;

export interface FigureJson {
  data: object[];
  layout?: object;
  config?: object;
}

const LOADER_SHOWN = Symbol.for('hpcdl.plots.plotlyLoaderShown');
let plotlySource: string | null = null;

/** The plotly.js file shipped with the package (plotly.js-dist-min). */
export function plotlyJsFile(): string {
  return require.resolve('plotly.js-dist-min/plotly.min.js');
}

function plotlyJs(): string {
  if (plotlySource === null) plotlySource = fs.readFileSync(plotlyJsFile(), 'utf8').replace(/<\/script/gi, '<\\/script');
  return plotlySource;
}

/** The HTML of the inline loader output (plotly.js inlined; only with HPCDL_PLOTLY_INLINE=1). */
export function plotlyLoaderHtml(): string {
  return `<script type="text/javascript">
if (!window.Plotly) {
${plotlyJs()}
}
window.dispatchEvent(new Event(${JSON.stringify(PLOTLY_READY_EVENT)}));
</script>`;
}

function inlineLoaderWanted(): boolean {
  return /^(1|true|yes)$/i.test(process.env.HPCDL_PLOTLY_INLINE ?? '');
}

/** With HPCDL_PLOTLY_INLINE=1: displays the inline plotly.js loader once per kernel process. */
export function ensurePlotlyLoader(channel: DisplayChannel): void {
  const holder = globalThis as unknown as Record<symbol, boolean | undefined>;
  if (holder[LOADER_SHOWN] || !inlineLoaderWanted()) return;
  channel.publish(
    { data: { 'text/html': plotlyLoaderHtml(), 'text/plain': '(plotly.js loaded for hpcdl figures)' }, metadata: {} },
    false,
  );
  holder[LOADER_SHOWN] = true;
}

/**
 * Browser code (in every figure's script): loads plotly.js once per page from
 * the Jupyter server's nbextensions path (the base URL from the classic UI's
 * `data-base-url` or the `jupyter-config-data` of newer UIs) and fires the
 * ready event; on failure, says where it looked inside `el`.
 */
const LOAD_PLOTLY_JS = `function loadPlotly(el) {
    if (window.Plotly) return;
    var w = window;
    if (!w.hpcdlPlotlyLoad) {
      var base = document.body && document.body.getAttribute('data-base-url');
      var config = document.getElementById('jupyter-config-data');
      if (!base && config) { try { base = JSON.parse(config.textContent).baseUrl; } catch (e) {} }
      base = base || '/';
      if (base.charAt(base.length - 1) !== '/') base += '/';
      var url = base + ${JSON.stringify(PLOTLY_NBEXTENSION_PATH.join('/'))};
      w.hpcdlPlotlyLoad = { url: url, failed: false };
      var script = document.createElement('script');
      script.src = url;
      script.onload = function () { window.dispatchEvent(new Event(${JSON.stringify(PLOTLY_READY_EVENT)})); };
      script.onerror = function () { w.hpcdlPlotlyLoad.failed = true; window.dispatchEvent(new Event('hpcdl-plotly-missing')); };
      document.head.appendChild(script);
    }
    function missing() {
      if (el && !window.Plotly) el.textContent = 'plotly.js not found at ' + w.hpcdlPlotlyLoad.url + ' (run: hpcdl kernel install)';
    }
    if (w.hpcdlPlotlyLoad.failed) missing();
    else window.addEventListener('hpcdl-plotly-missing', missing, { once: true });
  }`;

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
  ${LOAD_PLOTLY_JS}
  if (window.Plotly) draw();
  else {
    window.addEventListener(${JSON.stringify(PLOTLY_READY_EVENT)}, draw, { once: true });
    loadPlotly(document.getElementById(${JSON.stringify(divId)}));
  }
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
