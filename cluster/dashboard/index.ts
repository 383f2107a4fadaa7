/**
 * The controller's HTTP side: a REST API and a small self-contained status
 * page, served on the same port as the WebSocket. Every request needs the
 * dashboard token (from `dashboard_url` in the connection file) as
 * `?token=…` or an `Authorization: token …` / `Bearer …` header.
 */
import type * as http from 'node:http';
import { timingSafeEqual } from 'node:crypto';

export interface DashboardApi {
  token: string;
  status(): Record<string, unknown>;
  engines(): Record<string, unknown>[];
  task(id: string): Record<string, unknown> | null;
  tasks(state: string | null, limit: number): Record<string, unknown>[];
  resources(engineId: number): Record<string, unknown>[] | null;
  reports(taskId: string | null, limit: number): object[];
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(text);
}

function tokenOf(req: http.IncomingMessage, url: URL): string {
  const q = url.searchParams.get('token');
  if (q) return q;
  const auth = req.headers.authorization ?? '';
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(auth);
  return m ? m[1] : '';
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function handleDashboardRequest(req: http.IncomingMessage, res: http.ServerResponse, api: DashboardApi): void {
  const url = new URL(req.url ?? '/', 'http://controller');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    sendJson(res, 405, { error: `${req.method} is not supported; the REST API is read-only (GET)` });
    return;
  }
  if (!sameToken(tokenOf(req, url), api.token)) {
    sendJson(res, 403, { error: 'missing or wrong token: open the dashboard_url from the cluster connection file' });
    return;
  }
  const limit = Math.min(10000, Math.max(1, Number(url.searchParams.get('limit')) || 1000));
  const p = url.pathname.replace(/\/+$/, '') || '/';
  if (p === '/') {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(STATUS_PAGE);
    return;
  }
  if (p === '/api/status') {
    // ?gc=1 collects garbage first when the controller runs with --expose-gc (memory benchmarks)
    const gc = (globalThis as { gc?: () => void }).gc;
    if (url.searchParams.get('gc') === '1' && gc) gc();
    return sendJson(res, 200, api.status());
  }
  if (p === '/api/engines') return sendJson(res, 200, api.engines());
  if (p === '/api/tasks') return sendJson(res, 200, api.tasks(url.searchParams.get('state'), limit));
  if (p === '/api/reports') return sendJson(res, 200, api.reports(url.searchParams.get('task_id'), limit));
  let m = /^\/api\/tasks\/(.+)$/.exec(p);
  if (m) {
    const id = decodeURIComponent(m[1]);
    const info = api.task(id);
    return info ? sendJson(res, 200, info) : sendJson(res, 404, { error: `no task ${id}` });
  }
  m = /^\/api\/resources\/(\d+)$/.exec(p);
  if (m) {
    const history = api.resources(Number(m[1]));
    return history ? sendJson(res, 200, history) : sendJson(res, 404, { error: `no engine ${m[1]}` });
  }
  sendJson(res, 404, { error: `no route ${p}; try /api/status, /api/engines, /api/tasks, /api/tasks/<id>, /api/resources/<engine_id>, /api/reports` });
}

const STATUS_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>hpcdl cluster</title>
<style>
body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.dead{color:#a00}.muted{color:#777}
</style></head><body>
<h1>hpcdl cluster <span id="cid"></span></h1>
<p id="summary" class="muted">loading…</p>
<h2>Tasks</h2><table id="tasks"></table>
<h2>Engines</h2><table id="engines"></table>
<script>
const token = new URLSearchParams(location.search).get('token') || '';
const get = (p) => fetch(p + (p.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(token)).then(r => r.json());
const esc = (s) => String(s).replace(/[&<>"]/g, c => ({'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]));
const gb = (b) => b ? (b / 2**30).toFixed(1) + ' GiB' : '–';
async function refresh() {
  try {
    const [s, engines] = await Promise.all([get('/api/status'), get('/api/engines')]);
    document.getElementById('cid').textContent = s.cluster_id;
    document.getElementById('summary').textContent =
      s.url + ' · up ' + Math.round(s.uptime_s) + ' s · ' + s.engines.alive + ' engines (' + s.engines.slots + ' slots), ' +
      s.engines.dead + ' dead · ' + s.clients + ' clients · controller RSS ' + gb(s.memory.rss) + ' · bad messages ' + s.bad_messages;
    const t = s.tasks;
    document.getElementById('tasks').innerHTML = '<tr>' + ['total','waiting','queued','running','done','error','cancelled'].map(k => '<th>' + k + '</th>').join('') +
      '</tr><tr>' + ['total','waiting','queued','running','done','error','cancelled'].map(k => '<td>' + t[k] + '</td>').join('') + '</tr>';
    const rows = engines.map(e => {
      const smp = e.last_sample || {};
      const cpu = Array.isArray(smp.cpu_percent) ? (smp.cpu_percent.reduce((a, b) => a + b, 0) / Math.max(1, smp.cpu_percent.length)).toFixed(0) + '%' : (smp.cpu_percent ?? '–');
      return '<tr class="' + (e.state === 'dead' ? 'dead' : '') + '"><td>' + e.engine_id + '</td><td class="l">' + esc(e.host) + '</td><td>' + e.pid +
        '</td><td class="l">' + e.state + (e.death_reason ? ' (' + esc(e.death_reason) + ')' : '') + '</td><td>' + e.slots + '</td><td>' + e.assigned +
        '</td><td>' + e.tasks_done + '</td><td>' + e.resources.cpus + '</td><td>' + gb(e.resources.memory_bytes) + '</td><td>' + e.resources.gpus.length +
        '</td><td>' + esc(cpu) + '</td></tr>';
    }).join('');
    document.getElementById('engines').innerHTML = '<tr><th>id</th><th class="l">host</th><th>pid</th><th class="l">state</th><th>slots</th><th>assigned</th><th>done</th><th>cpus</th><th>memory</th><th>gpus</th><th>cpu now</th></tr>' + rows;
  } catch (err) {
    document.getElementById('summary').textContent = 'controller unreachable: ' + err;
  }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>`;
