/**
 * The controller's HTTP side, on the same port as the WebSocket: the live
 * dashboard page (static assets from ./static, Plotly from the
 * plotly.js-dist-min package), a read-only REST API, a server-sent-events
 * channel that pushes the page's updates, POST controls (cancel a task, stop
 * or restart an engine), and /metrics for Prometheus. Every route needs the
 * token (access.ts). Routes are matched on the end of the path and every
 * link the page makes is relative, so it works behind a proxy that keeps a
 * prefix (JupyterHub's /user/NAME/proxy/PORT/) as well as one that strips it.
 */
import * as fs from 'node:fs';
import type * as http from 'node:http';
import * as path from 'node:path';
import { controlRefusal, refuse, requestToken, sameToken } from './access';
import { DashboardMetrics } from './metrics';
import type { DashboardFeed, DashboardSource, EngineRow, TaskChange } from './source';
import { DashboardState, meanOf, sumOf, type NodePoint } from './state';

/** engine rows pushed per update: the page shows a page of them; 1,000 rows of ~200 bytes is ~200 KB/s at one push a second */
const PUSHED_ENGINES = 2000;
const PUSHED_RUNNING = 200;
/** how soon a report or a finished task reaches the page (the issue asks for < 1 s) */
const EVENT_FLUSH_MS = 100;
const TICK_MS = 1000;
const TRAINING_POINTS_PUSHED = 500;
/** an SSE comment line every 15 s keeps proxies from closing an idle stream */
const KEEPALIVE_MS = 15_000;

const STATIC_TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.html': 'text/html; charset=utf-8' };
const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  // Nothing is loaded from or sent to another origin: the token stays with this host.
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'self'",
};

function staticDir(): string {
  const candidates = [path.join(__dirname, 'static'), path.resolve(__dirname, '../../../cluster/dashboard/static')];
  return candidates.find((d) => fs.existsSync(path.join(d, 'index.html'))) ?? candidates[0];
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...SECURITY_HEADERS });
  res.end(JSON.stringify(body));
}

/** The route after any proxy prefix: 'page', or 'api/…', 'static/…', 'metrics'. */
export function routeOf(pathname: string): string | null {
  const m = /\/(api\/.*|static\/[^/]+|metrics)$/.exec(pathname);
  if (m) return m[1].replace(/\/+$/, '');
  return pathname.endsWith('/') ? 'page' : null;
}

interface PushClient {
  res: http.ServerResponse;
}

export class Dashboard {
  readonly state = new DashboardState();
  readonly feed: DashboardFeed;
  private readonly metrics: DashboardMetrics;
  private readonly clients = new Set<PushClient>();
  private readonly dir = staticDir();
  private pageHtml: string | null = null;
  private tickTimer: NodeJS.Timeout;
  private flushTimer: NodeJS.Timeout | null = null;
  private sent = { stream: 0, failures: 0, reports: 0 };
  private lastNodeT = 0;
  /** an engine came or went, or a control acted: the next event batch carries the engine rows and running tasks too */
  private enginesChanged = false;

  constructor(private readonly source: DashboardSource) {
    this.metrics = new DashboardMetrics(source, this.state);
    const state = this.state;
    this.feed = {
      taskChanged: (c: TaskChange) => {
        state.taskChanged(c);
        if (c.state === 'done' || c.state === 'error' || c.state === 'cancelled') this.scheduleFlush();
      },
      report: (taskId, engineId, data) => {
        state.report(taskId, engineId, data);
        this.scheduleFlush();
      },
      resources: (engineId, sample) => state.resources(engineId, sample),
      engineEvent: () => {
        state.engineEvent();
        this.enginesChanged = true;
        this.scheduleFlush();
      },
    };
    this.tickTimer = setInterval(() => this.tick(), TICK_MS);
    this.tickTimer.unref();
  }

  close(): void {
    clearInterval(this.tickTimer);
    if (this.flushTimer) clearTimeout(this.flushTimer);
    for (const c of this.clients) c.res.end();
    this.clients.clear();
  }

  get pushClients(): number {
    return this.clients.size;
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://controller');
    if (!sameToken(requestToken(req, url), this.source.token)) return refuse(res);
    const route = routeOf(url.pathname);
    if (req.method === 'POST') return this.control(req, res, route);
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: `${req.method} is not supported (GET, or POST for controls)` });
    if (route === 'page') return this.page(res, url.searchParams.get('token') ?? '');
    if (route === 'metrics') return void this.sendMetrics(res);
    if (route?.startsWith('static/')) return this.asset(res, route.slice('static/'.length));
    if (route === 'api/events') return this.subscribe(req, res);
    return this.api(res, route, url);
  }

  private api(res: http.ServerResponse, route: string | null, url: URL): void {
    const s = this.source;
    const limit = Math.min(10000, Math.max(1, Number(url.searchParams.get('limit')) || 1000));
    if (route === 'api/status') {
      // ?gc=1 collects garbage first when the controller runs with --expose-gc (memory benchmarks)
      const gc = (globalThis as { gc?: () => void }).gc;
      if (url.searchParams.get('gc') === '1' && gc) gc();
      return sendJson(res, 200, s.status());
    }
    if (route === 'api/engines') return sendJson(res, 200, s.engines().map((e) => this.engineView(e)));
    if (route === 'api/tasks') return sendJson(res, 200, s.tasks(url.searchParams.get('state'), limit));
    if (route === 'api/reports') return sendJson(res, 200, s.reports(url.searchParams.get('task_id'), limit));
    if (route === 'api/searches') return sendJson(res, 200, s.searches());
    let m = /^api\/tasks\/([^/]+)$/.exec(route ?? '');
    if (m) {
      const id = decodeURIComponent(m[1]);
      const info = s.task(id);
      return info ? sendJson(res, 200, info) : sendJson(res, 404, { error: `no task ${id}` });
    }
    m = /^api\/resources\/(\d+)$/.exec(route ?? '');
    if (m) {
      const history = s.resources(Number(m[1]));
      return history ? sendJson(res, 200, history) : sendJson(res, 404, { error: `no engine ${m[1]}` });
    }
    sendJson(res, 404, { error: `no route ${route ?? url.pathname}; try api/status, api/engines, api/tasks, api/tasks/<id>, api/resources/<engine_id>, api/reports, api/searches, api/events, metrics` });
  }

  private control(req: http.IncomingMessage, res: http.ServerResponse, route: string | null): void {
    if (controlRefusal(req, this.source.token) !== null) return refuse(res);
    req.resume(); // controls take no body
    const task = /^api\/tasks\/([^/]+)\/cancel$/.exec(route ?? '');
    const engine = /^api\/engines\/(\d+)\/(stop|restart)$/.exec(route ?? '');
    let failure: string | null;
    if (task) failure = this.source.cancelTask(decodeURIComponent(task[1]));
    else if (engine) failure = engine[2] === 'stop' ? this.source.stopEngine(Number(engine[1])) : this.source.restartEngine(Number(engine[1]));
    else return sendJson(res, 404, { error: `no control ${route}; try api/tasks/<id>/cancel, api/engines/<id>/stop, api/engines/<id>/restart` });
    this.enginesChanged = true;
    this.scheduleFlush();
    if (failure) sendJson(res, 409, { error: failure });
    else sendJson(res, 200, { ok: true });
  }

  private page(res: http.ServerResponse, token: string): void {
    this.pageHtml ??= fs.readFileSync(path.join(this.dir, 'index.html'), 'utf8');
    // the token was checked equal to the cluster's (hex): safe to put in attribute values
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', ...SECURITY_HEADERS });
    res.end(this.pageHtml.replace(/__TOKEN__/g, encodeURIComponent(token)));
  }

  private asset(res: http.ServerResponse, name: string): void {
    let file: string;
    if (name === 'plotly.min.js') file = require.resolve('plotly.js-dist-min');
    else if (/^[a-z0-9-]+\.(js|css)$/.test(name)) file = path.join(this.dir, name);
    else return sendJson(res, 404, { error: `no asset ${name}` });
    fs.readFile(file, (err, data) => {
      if (err) return sendJson(res, 404, { error: `no asset ${name}` });
      res.writeHead(200, { 'content-type': STATIC_TYPES[path.extname(file)] ?? 'application/octet-stream', ...SECURITY_HEADERS });
      res.end(data);
    });
  }

  private async sendMetrics(res: http.ServerResponse): Promise<void> {
    try {
      const { contentType, body } = await this.metrics.text();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
    } catch (err) {
      sendJson(res, 500, { error: `metrics: ${(err as Error).message}` });
    }
  }

  // ------------------------------------------------------------- push channel

  private subscribe(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no', ...SECURITY_HEADERS });
    const client: PushClient = { res };
    this.clients.add(client);
    const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    req.on('close', () => {
      clearInterval(keepalive);
      this.clients.delete(client);
    });
    this.write(client, this.snapshot());
  }

  private write(client: PushClient, message: object): void {
    client.res.write(`data: ${JSON.stringify(message)}\n\n`);
  }

  private broadcast(message: object): void {
    if (this.clients.size === 0) return;
    const text = `data: ${JSON.stringify(message)}\n\n`;
    for (const c of this.clients) c.res.write(text);
  }

  private engineView(e: EngineRow): Record<string, unknown> {
    const sample = (e.last_sample ?? {}) as { engine?: { cpu_percent?: number; rss_bytes?: number }; gpus?: { index: number; utilization_percent: number | null; memory_used_bytes: number | null }[] };
    const own = new Set(e.resources.gpus.map((g) => g.index));
    const gpus = (sample.gpus ?? []).filter((g) => own.has(g.index));
    return {
      ...e,
      cpu_percent: sample.engine?.cpu_percent ?? null,
      memory_bytes: sample.engine?.rss_bytes ?? null,
      gpu_percent: meanOf(gpus.map((g) => g.utilization_percent)),
      gpu_memory_bytes: sumOf(gpus.map((g) => g.memory_used_bytes)),
      controls: this.source.controls(e),
    };
  }

  private compactEngines(): Record<string, unknown>[] {
    return this.source
      .engines()
      .slice(0, PUSHED_ENGINES)
      .map((e) => {
        const v = this.engineView(e);
        // what the page's engine table reads, no more: 1,000 rows go out every second
        for (const k of ['last_sample', 'labels', 'resources', 'registered_ms', 'died_ms', 'assigned']) delete v[k];
        return v;
      });
  }

  private snapshot(): object {
    this.sent = { stream: this.state.stream.seq, failures: this.state.failures.seq, reports: this.state.reportsRing.seq };
    return {
      type: 'snapshot',
      time: Date.now(),
      status: this.source.status(),
      series: this.state.series.toArray(),
      engines: this.compactEngines(),
      running: this.source.tasks('running', PUSHED_RUNNING),
      nodes: this.state.nodeSeries(),
      stream: this.state.stream.toArray(),
      failures: this.state.failures.toArray(),
      reports: this.state.reportsRing.toArray().slice(-50),
      trainings: this.trainings(),
      searches: this.source.searches(),
    };
  }

  private tick(): void {
    const status = this.source.status();
    const point = this.state.tick(status);
    if (this.clients.size === 0) return;
    const nodes = this.state.nodeSeries().map(({ host, points }) => ({ host, points: points.filter((p: NodePoint) => p.t > this.lastNodeT) }));
    this.lastNodeT = Math.max(this.lastNodeT, ...nodes.flatMap((n) => n.points.map((p) => p.t)));
    this.broadcast({
      type: 'tick',
      time: Date.now(),
      status,
      point,
      engines: this.compactEngines(),
      running: this.source.tasks('running', PUSHED_RUNNING),
      nodes,
      trainings: this.trainings(),
      searches: this.source.searches(),
    });
  }

  /** Training curves, each rank's points thinned to at most TRAINING_POINTS_PUSHED. */
  private trainings(): object[] {
    return this.state.trainingSeries().map((t) => ({ key: t.key, ranks: t.ranks.map((r) => ({ rank: r.rank, points: thin(r.points, TRAINING_POINTS_PUSHED) })) }));
  }

  private scheduleFlush(): void {
    if (this.flushTimer || this.clients.size === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      this.flush();
    }, EVENT_FLUSH_MS);
    this.flushTimer.unref();
  }

  private flush(): void {
    const s = this.state;
    const message = {
      type: 'events',
      time: Date.now(),
      stream: s.stream.since(this.sent.stream),
      failures: s.failures.since(this.sent.failures),
      reports: s.reportsRing.since(this.sent.reports).slice(-50),
      // 1,000 engine rows are ~500 KB of JSON: sent with the tick, and here only when they changed
      ...(this.enginesChanged ? { engines: this.compactEngines(), running: this.source.tasks('running', PUSHED_RUNNING) } : {}),
    };
    this.enginesChanged = false;
    this.sent = { stream: s.stream.seq, failures: s.failures.seq, reports: s.reportsRing.seq };
    this.broadcast(message);
  }
}

/** Every k-th point so that at most `max` remain, always keeping the last. */
export function thin<T>(points: T[], max: number): T[] {
  if (points.length <= max) return points;
  const k = Math.ceil(points.length / max);
  const out = points.filter((_, i) => i % k === 0);
  if (out[out.length - 1] !== points[points.length - 1]) out.push(points[points.length - 1]);
  return out;
}
