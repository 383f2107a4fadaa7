// The hpcdl dashboard page. Everything arrives pushed over one server-sent-events
// stream (api/events): a snapshot, then a tick a second and event batches as
// tasks finish and report. Every URL is relative (the page works under a proxy
// prefix) and carries the token; nothing is loaded from another origin.
'use strict';
(function () {
  const token = document.documentElement.dataset.token;
  const withToken = (p) => p + (p.includes('?') ? '&' : '?') + 'token=' + token;
  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
  const gib = (b) => (b === null || b === undefined ? '–' : b >= 2 ** 30 ? (b / 2 ** 30).toFixed(2) + ' GiB' : (b / 2 ** 20).toFixed(0) + ' MiB');
  const pct = (v) => (v === null || v === undefined ? '–' : v.toFixed(0) + '%');
  const time = (ms) => new Date(ms);
  const SERIES_MAX = 600, NODE_MAX = 300, STREAM_MAX = 5000, FAILURES_MAX = 200, REPORTS_MAX = 50, ENGINE_ROWS = 200;
  const STATE_COLOURS = { done: '#2a9d8f', error: '#d62828', cancelled: '#999999' };
  const PLOT_CONFIG = { displayModeBar: false, responsive: true };

  const st = { status: null, series: [], engines: [], running: [], nodes: new Map(), stream: [], failures: [], reports: [], trainings: [], searches: [] };
  // What the tests and the bench read: time to apply and render each pushed message.
  const metrics = { messages: 0, updates: [], lastRenderMs: 0, connected: false };
  window.hpcdlDashboard = metrics;
  let activeTab = 'overview';

  const capped = (arr, items, max) => {
    for (const x of items) arr.push(x);
    if (arr.length > max) arr.splice(0, arr.length - max);
  };

  function apply(m) {
    if (m.status) st.status = m.status;
    if (m.engines) st.engines = m.engines;
    if (m.running) st.running = m.running;
    if (m.trainings) st.trainings = m.trainings;
    if (m.searches) st.searches = m.searches;
    if (m.type === 'snapshot') {
      st.series = m.series;
      st.nodes = new Map(m.nodes.map((n) => [n.host, n.points]));
      st.stream = m.stream;
      st.failures = m.failures;
      st.reports = m.reports;
      return;
    }
    if (m.point) capped(st.series, [m.point], SERIES_MAX);
    if (m.nodes) {
      const shown = new Set(m.nodes.map((n) => n.host));
      for (const host of [...st.nodes.keys()]) if (!shown.has(host)) st.nodes.delete(host);
      for (const n of m.nodes) {
        if (!st.nodes.has(n.host)) st.nodes.set(n.host, []);
        capped(st.nodes.get(n.host), n.points, NODE_MAX);
      }
    }
    if (m.stream) capped(st.stream, m.stream, STREAM_MAX);
    if (m.failures) capped(st.failures, m.failures, FAILURES_MAX);
    if (m.reports) capped(st.reports, m.reports, REPORTS_MAX);
  }

  // ------------------------------------------------------------------ render

  // A table or card row is rewritten only when its content changed: a button under the pointer survives updates that do not touch it.
  function setHtml(el, html) {
    if (el.dataset.html !== html) {
      el.innerHTML = html;
      el.dataset.html = html;
    }
  }

  function card(label, value) {
    return '<div class="card"><b>' + esc(value) + '</b><span>' + esc(label) + '</span></div>';
  }

  function renderCards() {
    const s = st.status;
    if (!s) return;
    $('cluster-id').textContent = s.cluster_id;
    const last = st.series[st.series.length - 1] || {};
    const t = s.tasks || {};
    setHtml($('cards'), [
      card('uptime', Math.round(s.uptime_s) + ' s'),
      card('engines alive', s.engines.alive),
      card('engines dead', s.engines.dead),
      card('queued', t.queued), card('running', t.running), card('done', t.done), card('error', t.error), card('cancelled', t.cancelled),
      card('tasks/s', last.tasks_per_s ?? 0),
      card('controller CPU', pct(last.controller_cpu)),
      card('controller memory', gib(s.memory.rss)),
    ].join(''));
  }

  function line(x, y, name, extra) {
    return Object.assign({ x, y, name, type: 'scatter', mode: 'lines' }, extra || {});
  }

  // A chart is redrawn at most once a second (a 5,000-bar task stream takes ~100 ms to draw); updates in between are kept and
  // drawn at the end of that second, and those deferred draws are timed too (type 'chart' in window.hpcdlDashboard.updates).
  const CHART_INTERVAL_MS = 1000;
  function plot(id, traces, title, yTitle, extraLayout) {
    const el = $(id);
    if (!el || !window.Plotly) return;
    const layout = { title: { text: title, font: { size: 13 } }, margin: { l: 55, r: 55, t: 30, b: 30 }, yaxis: { title: yTitle || '' }, legend: { font: { size: 10 }, orientation: 'h', y: -0.2 }, showlegend: traces.length > 1 };
    const draw = () => window.Plotly.react(el, traces, Object.assign(layout, extraLayout || {}), PLOT_CONFIG);
    const now = performance.now();
    const wait = (el.lastDrawn || -Infinity) + CHART_INTERVAL_MS - now;
    if (wait <= 0) {
      el.lastDrawn = now;
      draw();
      return;
    }
    const first = !el.pending;
    el.pending = draw;
    if (!first) return;
    setTimeout(() => {
      const t0 = performance.now();
      el.lastDrawn = t0;
      const pending = el.pending;
      el.pending = null;
      pending();
      metrics.updates.push({ type: 'chart', bytes: 0, parseMs: 0, renderMs: performance.now() - t0, totalMs: performance.now() - t0, tab: activeTab });
    }, wait);
  }

  function renderOverview() {
    const x = st.series.map((p) => time(p.t));
    const col = (k) => st.series.map((p) => p[k]);
    plot('chart-task-states', ['queued', 'running', 'waiting'].map((k) => line(x, col(k), k)), 'tasks by state', 'tasks');
    plot('chart-throughput', [line(x, col('tasks_per_s'), 'tasks/s')], 'throughput', 'tasks/s');
    plot('chart-engines', [line(x, col('alive'), 'alive'), line(x, col('dead'), 'dead')], 'engines', 'engines');
    plot('chart-controller', [line(x, col('controller_cpu'), 'CPU %'), line(x, st.series.map((p) => p.controller_rss / 2 ** 20), 'RSS MiB', { yaxis: 'y2' })], 'controller CPU and memory', 'CPU %', { yaxis2: { title: 'RSS MiB', overlaying: 'y', side: 'right', rangemode: 'tozero' }, yaxis: { title: 'CPU %', rangemode: 'tozero' } });
  }

  function controlButton(kind, id, reason, label) {
    return '<button class="act" data-act="' + kind + '" data-id="' + esc(id) + '"' + (reason ? ' disabled title="' + esc(reason) + '"' : '') + '>' + label + '</button>';
  }

  function renderEngines() {
    const filter = $('engine-filter').value.trim().toLowerCase();
    const rows = filter ? st.engines.filter((e) => (e.engine_id + ' ' + e.host + ' ' + e.state).toLowerCase().includes(filter)) : st.engines;
    $('engine-count').textContent = (rows.length > ENGINE_ROWS ? 'showing ' + ENGINE_ROWS + ' of ' : '') + rows.length + ' engines';
    const head = '<tr><th>id</th><th class="l">host</th><th>pid</th><th class="l">state</th><th>slots</th><th class="l">current task</th><th>CPU</th><th>memory</th><th>GPU</th><th>GPU memory</th><th>done</th><th class="l">controls</th></tr>';
    setHtml($('engines'), head + rows.slice(0, ENGINE_ROWS).map((e) => {
      const c = e.controls || {};
      const reasons = [c.stop && 'stop: ' + c.stop, c.restart && 'restart: ' + c.restart].filter(Boolean).join('; ');
      return '<tr class="' + e.state + '" data-engine="' + e.engine_id + '"><td>' + e.engine_id + '</td><td class="l">' + esc(e.host) + '</td><td>' + e.pid + '</td><td class="l state">' + e.state +
        (e.death_reason ? ' (' + esc(e.death_reason) + ')' : '') + '</td><td>' + e.slots + '</td><td class="l">' + esc(e.tasks.slice(0, 3).join(', ') || '–') + '</td><td>' + pct(e.cpu_percent) + '</td><td>' + gib(e.memory_bytes) +
        '</td><td>' + pct(e.gpu_percent) + '</td><td>' + gib(e.gpu_memory_bytes) + '</td><td>' + e.tasks_done + '</td><td class="l">' +
        controlButton('stop', e.engine_id, c.stop, 'stop') + ' ' + controlButton('restart', e.engine_id, c.restart, 'restart') +
        (reasons ? ' <span class="reason">' + esc(reasons) + '</span>' : '') + '</td></tr>';
    }).join(''));
  }

  const NODE_PANELS = [
    ['chart-node-cpu', 'CPU (percent of all cores)', (p) => p.cpu],
    ['chart-node-mem', 'memory used (GiB)', (p) => p.mem / 2 ** 30],
    ['chart-node-gpu', 'GPU utilisation (%)', (p) => p.gpu],
    ['chart-node-gpu-mem', 'GPU memory used (GiB)', (p) => (p.gpu_mem === null ? null : p.gpu_mem / 2 ** 30)],
    ['chart-node-net', 'network (MB/s, rx+tx)', (p) => p.net / 1e6],
    ['chart-node-disk', 'disk (MB/s, read+write)', (p) => p.disk / 1e6],
  ];

  function renderNodes() {
    const nodes = [...st.nodes.entries()];
    const gpus = nodes.some(([, pts]) => pts.some((p) => p.gpu !== null));
    $('nodes-note').textContent = nodes.length + ' node line(s) from the engines\' resource samples' + (gpus ? '' : '; no GPU reported by any node (nvidia-smi absent)');
    for (const [id, title, f] of NODE_PANELS) plot(id, nodes.map(([host, pts]) => line(pts.map((p) => time(p.t)), pts.map(f), host)), title);
  }

  function renderTasks() {
    const byState = {};
    const engines = new Set();
    for (const b of st.stream) {
      const tr = (byState[b.state] = byState[b.state] || { x: [], y: [], text: [] });
      const y = 'engine ' + b.engine_id;
      engines.add(y);
      tr.x.push(time(b.start), time(b.end), null);
      tr.y.push(y, y, null);
      tr.text.push(b.task_id, b.task_id, null);
    }
    const traces = Object.entries(byState).map(([s, tr]) => ({ ...tr, name: s, type: 'scatter', mode: 'lines', line: { width: 8, color: STATE_COLOURS[s] }, hoverinfo: 'text+x' }));
    plot('chart-task-stream', traces, 'task stream (' + st.stream.length + ' recent tasks on ' + engines.size + ' engines)');
    const x = st.series.map((p) => time(p.t));
    plot('chart-queue', [line(x, st.series.map((p) => p.queued), 'queued'), line(x, st.series.map((p) => p.running), 'running')], 'queue depth', 'tasks');
    $('running-count').textContent = '(' + ((st.status && st.status.tasks.running) || 0) + ')';
    setHtml($('running'), '<tr><th class="l">task</th><th>engine</th><th class="l">started</th><th></th></tr>' + st.running.map((t) =>
      '<tr data-task="' + esc(t.task_id) + '"><td class="l">' + esc(t.task_id) + '</td><td>' + (t.engine_id ?? '–') + '</td><td class="l">' + (t.started_ms ? time(t.started_ms).toLocaleTimeString() : '–') +
      '</td><td>' + controlButton('cancel', t.task_id, null, 'cancel') + '</td></tr>').join(''));
    setHtml($('reports'), '<tr><th class="l">task</th><th>engine</th><th class="l">report</th></tr>' + st.reports.slice().reverse().map((r) =>
      '<tr class="report" data-task="' + esc(r.task_id) + '"><td class="l">' + esc(r.task_id) + '</td><td>' + (r.engine_id ?? '–') + '</td><td class="l">' + esc(JSON.stringify(r.data).slice(0, 200)) + '</td></tr>').join(''));
    setHtml($('failures'), '<tr><th class="l">task</th><th>engine</th><th class="l">when</th><th class="l">error</th></tr>' + st.failures.slice().reverse().map((f) =>
      '<tr><td class="l">' + esc(f.task_id) + '</td><td>' + (f.engine_id ?? '–') + '</td><td class="l">' + time(f.time).toLocaleTimeString() + '</td><td class="err">' + esc(f.ename + ': ' + f.evalue) + '</td></tr>').join(''));
  }

  function ensureDiv(parent, id, cls, html) {
    let el = document.getElementById(id);
    if (!el) {
      el = document.createElement('div');
      el.id = id;
      el.className = cls;
      el.innerHTML = html;
      parent.appendChild(el);
    }
    return el;
  }

  function renderTrainings() {
    const root = $('trainings');
    if (!st.trainings.length) root.innerHTML = '<p class="muted">No training has reported yet (tasks that report loss, accuracy or imagesPerSec show here).</p>';
    else if (root.querySelector('p.muted')) root.innerHTML = '';
    st.trainings.forEach((t, i) => {
      const id = 'training-' + i;
      ensureDiv(root, id, 'training', '<h3></h3><div class="row3"><div id="' + id + '-loss" class="chart"></div><div id="' + id + '-acc" class="chart"></div><div id="' + id + '-ips" class="chart"></div></div>');
      document.querySelector('#' + id + ' h3').textContent = 'training ' + t.key + ' (' + t.ranks.length + ' rank' + (t.ranks.length > 1 ? 's' : '') + ')';
      const series = (f) => t.ranks.map((r) => line(r.points.map((p) => p.step), r.points.map(f), 'rank ' + r.rank));
      const global = (f, combine) => {
        const bySteps = new Map();
        for (const r of t.ranks) for (const p of r.points) { const v = f(p); if (v !== null) (bySteps.get(p.step) || bySteps.set(p.step, []).get(p.step)).push(v); }
        const steps = [...bySteps.keys()].sort((a, b) => a - b);
        return line(steps, steps.map((s) => combine(bySteps.get(s))), 'global', { line: { dash: 'dot', color: '#000' } });
      };
      const mean = (v) => v.reduce((a, b) => a + b, 0) / v.length;
      const sum = (v) => v.reduce((a, b) => a + b, 0);
      plot(id + '-loss', [...series((p) => p.loss), global((p) => p.loss, mean)], 'loss');
      plot(id + '-acc', [...series((p) => p.accuracy), global((p) => p.accuracy, mean)], 'accuracy');
      plot(id + '-ips', [...series((p) => p.images_per_s), global((p) => p.images_per_s, sum)], 'throughput (images/s)');
    });
  }

  // Parallel coordinates drawn as SVG lines (Plotly's parcoords needs WebGL and regl's generated code, which the page's CSP does not allow):
  // one axis per parameter and the objective, each scaled to its range (categories evenly), a line per complete trial coloured by its value.
  function parallelCoordinates(id, names, trials, metric) {
    const axes = names.map((n) => {
      const vals = trials.map((t) => t.params[n]);
      if (vals.every((v) => typeof v === 'number')) return { label: n, pos: numericScale(vals) };
      const cats = [...new Set(vals.map(String))].sort();
      return { label: n + ' (' + cats.join(' | ') + ')', pos: vals.map((v) => (cats.length > 1 ? cats.indexOf(String(v)) / (cats.length - 1) : 0.5)) };
    });
    axes.push({ label: metric, pos: numericScale(trials.map((t) => t.value)) });
    const values = trials.map((t) => t.value);
    const lo = Math.min(...values), hi = Math.max(...values);
    const colour = (v) => { const f = hi > lo ? (v - lo) / (hi - lo) : 0.5; return 'rgb(' + Math.round(68 + 185 * f) + ',' + Math.round(1 + 230 * f) + ',' + Math.round(84 + 50 * (1 - f)) + ')'; };
    const x = axes.map((_, k) => k);
    const traces = trials.map((t, i) => line(x, axes.map((a) => a.pos[i]), 'trial ' + t.id, { line: { color: colour(t.value), width: 1.5 }, hovertext: 'trial ' + t.id + ': ' + t.value, hoverinfo: 'text' }));
    plot(id, traces, 'parameters against ' + metric + ' (each axis scaled to its range)', '', { showlegend: false, xaxis: { tickvals: x, ticktext: axes.map((a) => a.label), showgrid: true, gridcolor: '#999' }, yaxis: { range: [-0.05, 1.05], showticklabels: false } });
  }

  function numericScale(vals) {
    const lo = Math.min(...vals), hi = Math.max(...vals);
    return vals.map((v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5));
  }

  function renderSearches() {
    const root = $('searches');
    if (!st.searches.length) root.innerHTML = '<p class="muted">No search is attached: searches started with cluster.search() by the client that started this cluster (in-process controller) show here.</p>';
    else if (root.querySelector('p.muted')) root.innerHTML = '';
    st.searches.forEach((s, i) => {
      const id = 'search-' + i;
      ensureDiv(root, id, 'search', '<h3></h3><div class="row2"><div id="' + id + '-best" class="chart"></div><div id="' + id + '-hist" class="chart"></div></div><div id="' + id + '-par" class="chart wide"></div><table id="' + id + '-table"></table>');
      const done = s.trials.filter((t) => typeof t.value === 'number' && Number.isFinite(t.value));
      const better = (a, b) => (s.direction === 'min' ? a < b : a > b);
      let best = null;
      const bestSoFar = done.map((t) => (best = best === null || better(t.value, best) ? t.value : best));
      document.querySelector('#' + id + ' h3').textContent = s.name + ': ' + s.trials.length + ' trials, ' + done.length + ' complete, ' + s.direction + ' ' + s.metric + (best !== null ? ', best ' + best.toPrecision(4) : '');
      plot(id + '-best', [line(done.map((t) => t.id), done.map((t) => t.value), 'trial', { mode: 'markers' }), line(done.map((t) => t.id), bestSoFar, 'best so far', { line: { shape: 'hv' } })], 'best so far', s.metric);
      plot(id + '-hist', [{ x: done.map((t) => t.value), type: 'histogram', name: s.metric }], 'score histogram');
      const names = [...new Set(s.trials.flatMap((t) => Object.keys(t.params)))];
      parallelCoordinates(id + '-par', names, done, s.metric);
      $(id + '-table').innerHTML = '<tr><th>trial</th><th class="l">state</th><th>' + esc(s.metric) + '</th>' + names.map((n) => '<th>' + esc(n) + '</th>').join('') + '</tr>' +
        s.trials.slice(-200).reverse().map((t) => '<tr><td>' + t.id + '</td><td class="l">' + esc(t.state) + '</td><td>' + (typeof t.value === 'number' ? t.value.toPrecision(4) : '–') + '</td>' + names.map((n) => '<td>' + esc(typeof t.params[n] === 'number' ? +t.params[n].toPrecision(4) : t.params[n] ?? '') + '</td>').join('') + '</tr>').join('');
    });
  }

  const RENDER = { overview: renderOverview, engines: renderEngines, nodes: renderNodes, tasks: renderTasks, trainings: renderTrainings, searches: renderSearches };

  function render() {
    renderCards();
    RENDER[activeTab]();
  }

  // ------------------------------------------------------------------ wiring

  for (const b of document.querySelectorAll('#tabs button')) {
    b.addEventListener('click', () => {
      activeTab = b.dataset.tab;
      for (const x of document.querySelectorAll('#tabs button')) x.classList.toggle('active', x === b);
      for (const s of document.querySelectorAll('.tab')) s.classList.toggle('active', s.id === 'tab-' + activeTab);
      render();
    });
  }
  $('engine-filter').addEventListener('input', () => renderEngines());

  document.addEventListener('click', async (ev) => {
    const b = ev.target.closest('button.act');
    if (!b || b.disabled) return;
    const act = b.dataset.act;
    const path = act === 'cancel' ? 'api/tasks/' + encodeURIComponent(b.dataset.id) + '/cancel' : 'api/engines/' + b.dataset.id + '/' + act;
    b.disabled = true;
    try {
      const r = await fetch(withToken(path), { method: 'POST' });
      if (!r.ok) b.title = (await r.json()).error || r.statusText;
    } catch (err) {
      b.title = String(err);
    }
  });

  const source = new EventSource(withToken('api/events'));
  source.onopen = () => {
    metrics.connected = true;
    $('connection').textContent = 'live';
  };
  source.onerror = () => {
    metrics.connected = false;
    $('connection').textContent = 'disconnected; reconnecting…';
  };
  source.onmessage = (ev) => {
    const t0 = performance.now();
    const m = JSON.parse(ev.data);
    const t1 = performance.now();
    apply(m);
    render();
    const t2 = performance.now();
    metrics.messages += 1;
    metrics.lastRenderMs = t2 - t0;
    metrics.updates.push({ type: m.type, bytes: ev.data.length, parseMs: t1 - t0, renderMs: t2 - t1, totalMs: t2 - t0, tab: activeTab });
    if (metrics.updates.length > 1000) metrics.updates.splice(0, metrics.updates.length - 1000);
  };
})();
