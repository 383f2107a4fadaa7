/**
 * Notebook display pieces shared by the notebooks (training driver, parallel
 * basics, cluster monitor) and meant for the later distributed-training and
 * HPO notebooks too. They are thin: the figures come from hpcdl's plots
 * (trainingCurvesFigure) and the in-place updates from its LiveFigure /
 * LiveTable, which throttle so a fast stream cannot flood the browser.
 *
 *   const curves = new LiveTrainingCurves({ title: 'HEP CNN' });
 *   await train({ ..., onEvent: curves.trainEventListener('rank 0') });
 *
 *   handle.onReport((data, engineId) => curves.addTrainEvent(data, `trial ${data.trial}`));
 *
 *   const monitor = new ResourceMonitor();
 *   const stop = monitor.attach(cluster);   // cluster.onResources
 */
import { LiveFigure, LiveTable, trainingCurvesFigure, type CurveSeries, type LiveOutputOptions } from 'hpcdl';

/** The training events the curves understand (hpcdl's TrainEvent, or the same fields sent through report()). */
export interface CurveEvent {
  type?: string;
  step?: number;
  loss?: number;
  accuracy?: number;
  auc?: number;
  [key: string]: unknown;
}

export interface LiveTrainingCurvesOptions extends LiveOutputOptions {
  title?: string;
  xAxis?: string;
  /** The metric subplots, in this order; other metrics are not drawn. Default: loss, then whatever arrives. */
  metrics?: string[];
}

interface MutableSeries {
  name: string;
  metric: string;
  split: 'train' | 'validation';
  x: number[];
  y: number[];
}

/** Loss / accuracy / AUC curves per rank or trial, updated in place while training runs. */
export class LiveTrainingCurves {
  readonly live: LiveFigure;
  private readonly series = new Map<string, MutableSeries>();
  private readonly metricOrder: string[];
  private readonly title: string;
  private readonly xAxis: string;

  /** Only these metrics are drawn when `metrics` was given. */
  private readonly onlyMetrics: Set<string> | null;

  constructor(options: LiveTrainingCurvesOptions = {}) {
    this.title = options.title ?? 'training curves';
    this.xAxis = options.xAxis ?? 'step';
    this.metricOrder = [...(options.metrics ?? ['loss'])];
    this.onlyMetrics = options.metrics ? new Set(options.metrics) : null;
    this.live = new LiveFigure(this.render(), options);
  }

  /** Adds one point to the curve of (name, metric, split); a metric not asked for is ignored. */
  add(name: string, metric: string, x: number, y: number, split: 'train' | 'validation' = 'train'): this {
    if (this.onlyMetrics && !this.onlyMetrics.has(metric)) return this;
    const key = `${name}\u0000${metric}\u0000${split}`;
    let s = this.series.get(key);
    if (!s) {
      s = { name, metric, split, x: [], y: [] };
      this.series.set(key, s);
      if (!this.metricOrder.includes(metric)) this.metricOrder.push(metric);
    }
    s.x.push(x);
    s.y.push(y);
    this.live.update(this.render());
    return this;
  }

  /**
   * Adds the points of one training event: `step` → train loss,
   * `validation` → validation loss, accuracy and AUC. Other events are ignored.
   */
  addTrainEvent(event: CurveEvent, name: string): this {
    if (typeof event.step !== 'number') return this;
    if (event.type === 'step' && typeof event.loss === 'number') return this.add(name, 'loss', event.step, event.loss);
    if (event.type === 'validation') {
      for (const metric of ['loss', 'accuracy', 'auc'] as const) {
        const value = event[metric];
        if (typeof value === 'number') this.add(name, metric, event.step, value, 'validation');
      }
    }
    return this;
  }

  /** A listener for `train({ onEvent })` that draws the curves of `name`. */
  trainEventListener(name = 'rank 0'): (event: CurveEvent) => void {
    return (event) => this.addTrainEvent(event, name);
  }

  /** Number of points over all curves (what the live figure holds). */
  get points(): number {
    let n = 0;
    for (const s of this.series.values()) n += s.x.length;
    return n;
  }

  /** Sends the final state now; the kernel also flushes it when the cell ends. */
  close(): void {
    this.live.close();
  }

  private render() {
    const ordered: CurveSeries[] = [...this.series.values()]
      .sort((a, b) => this.metricOrder.indexOf(a.metric) - this.metricOrder.indexOf(b.metric))
      .map((s) => ({ name: s.name, metric: s.metric, split: s.split, x: s.x, y: s.y }));
    return trainingCurvesFigure(ordered, { title: this.title, xAxis: this.xAxis });
  }
}

// ---------------------------------------------------------------- resources

/** The fields of an engine's 1 Hz resource sample this monitor reads (hpcdl/cluster NodeResourceSample). */
export interface ResourceSampleLike {
  time_ms: number;
  host?: string;
  cpu?: { cores?: number[]; total_percent?: number };
  memory?: { total_bytes?: number; used_bytes?: number; percent?: number };
  network?: { rx_bytes_per_s?: number; tx_bytes_per_s?: number };
  gpus?: { index?: number; name?: string; utilization_percent?: number; memory_used_bytes?: number; memory_total_bytes?: number }[];
  engine?: { pid?: number; rss_bytes?: number };
  tasks?: { task_id?: string; cpu_percent?: number; rss_bytes?: number }[];
}

/** Anything with `onResources(listener) → unsubscribe` (an hpcdl Cluster). */
export interface ResourceSource {
  onResources(listener: (sample: any, engineId: number | null) => void): () => void;
}

export interface ResourceMonitorOptions extends LiveOutputOptions {
  /** Seconds of history shown (default 120). */
  windowSeconds?: number;
  title?: string;
  /** Also show a live table of engines (default true). */
  engineTable?: boolean;
}

interface NodeHistory {
  host: string;
  /** the engine whose samples stand for this node (engines on one node sample the same /proc) */
  reporter: number | null;
  lastAt: number;
  t: number[];
  cpu: number[];
  mem: number[];
  rx: number[];
  tx: number[];
  gpu: Map<string, number[]>;
  gpuT: number[];
}

const MB = 1024 * 1024;

/**
 * Per-node CPU, memory, GPU and network plots (like NERSC's Kale), fed by the
 * cluster's resource stream and updated in place; plus a table of engines.
 * Nodes without a GPU are shown as such (an annotation, not an empty plot).
 */
export class ResourceMonitor {
  readonly live: LiveFigure;
  readonly table: LiveTable | null;
  private readonly nodes = new Map<string, NodeHistory>();
  private readonly windowMs: number;
  private readonly title: string;
  private readonly startedAt = Date.now();
  private samples = 0;

  constructor(options: ResourceMonitorOptions = {}) {
    this.windowMs = (options.windowSeconds ?? 120) * 1000;
    this.title = options.title ?? 'cluster resources';
    this.live = new LiveFigure(this.render(), options);
    this.table = options.engineTable === false ? null : new LiveTable({ ...options, key: 'engine', title: 'engines', columns: ['engine', 'host', 'pid', 'rss MB', 'tasks', 'task CPU %', 'last sample'] });
  }

  /** Subscribes to `source.onResources`; returns the unsubscribe function. */
  attach(source: ResourceSource): () => void {
    return source.onResources((sample, engineId) => this.add(sample as ResourceSampleLike, engineId));
  }

  /** Number of samples received. */
  get sampleCount(): number {
    return this.samples;
  }

  /** Hosts seen so far. */
  get hosts(): string[] {
    return [...this.nodes.keys()];
  }

  add(sample: ResourceSampleLike, engineId: number | null): this {
    this.samples += 1;
    const host = sample.host ?? `engine ${engineId ?? '?'}`;
    this.table?.upsert({
      engine: engineId ?? '?',
      host,
      pid: sample.engine?.pid ?? null,
      'rss MB': sample.engine?.rss_bytes !== undefined ? Math.round(sample.engine.rss_bytes / MB) : null,
      tasks: sample.tasks?.length ?? 0,
      'task CPU %': (sample.tasks ?? []).reduce((sum, t) => sum + (t.cpu_percent ?? 0), 0),
      'last sample': new Date(sample.time_ms).toISOString().slice(11, 19),
    });
    const node = this.node(host);
    const now = sample.time_ms;
    // One engine speaks for its node; another takes over if it goes quiet.
    if (node.reporter !== null && node.reporter !== engineId && now - node.lastAt < 3000) return this;
    node.reporter = engineId;
    node.lastAt = now;
    const t = (now - this.startedAt) / 1000;
    node.t.push(t);
    node.cpu.push(sample.cpu?.total_percent ?? NaN);
    node.mem.push(sample.memory?.percent ?? NaN);
    node.rx.push((sample.network?.rx_bytes_per_s ?? NaN) / MB);
    node.tx.push((sample.network?.tx_bytes_per_s ?? NaN) / MB);
    for (const gpu of sample.gpus ?? []) {
      const key = `${host} gpu${gpu.index ?? 0}`;
      if (!node.gpu.has(key)) node.gpu.set(key, new Array(node.gpuT.length).fill(NaN));
    }
    node.gpuT.push(t);
    for (const [key, values] of node.gpu) {
      const index = Number(key.slice(key.lastIndexOf('gpu') + 3));
      const gpu = (sample.gpus ?? []).find((g) => (g.index ?? 0) === index);
      values.push(gpu?.utilization_percent ?? NaN);
    }
    this.trim(node);
    this.live.update(this.render());
    return this;
  }

  close(): void {
    this.live.close();
    this.table?.close();
  }

  private node(host: string): NodeHistory {
    let node = this.nodes.get(host);
    if (!node) {
      node = { host, reporter: null, lastAt: 0, t: [], cpu: [], mem: [], rx: [], tx: [], gpu: new Map(), gpuT: [] };
      this.nodes.set(host, node);
    }
    return node;
  }

  private trim(node: NodeHistory): void {
    const cutoff = (Date.now() - this.startedAt - this.windowMs) / 1000;
    let drop = 0;
    while (drop < node.t.length - 1 && node.t[drop] < cutoff) drop++;
    if (drop === 0) return;
    for (const arr of [node.t, node.cpu, node.mem, node.rx, node.tx, node.gpuT, ...node.gpu.values()]) arr.splice(0, drop);
  }

  private render() {
    const panels = ['CPU %', 'memory %', 'GPU util %', 'network MB/s'];
    const data: object[] = [];
    const colours = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b'];
    const nodes = [...this.nodes.values()];
    nodes.forEach((node, i) => {
      const color = colours[i % colours.length];
      const line = (y: number[], axis: string, name: string, dash = 'solid', showlegend = false) => ({
        type: 'scatter', mode: 'lines', name, legendgroup: node.host, showlegend, x: node.t.slice(), y: y.map(clean), yaxis: axis, xaxis: 'x', line: { color, dash },
      });
      data.push(line(node.cpu, 'y', node.host, 'solid', true));
      data.push(line(node.mem, 'y2', `${node.host} memory`));
      for (const [key, values] of node.gpu) {
        data.push({ type: 'scatter', mode: 'lines', name: key, legendgroup: node.host, showlegend: false, x: node.gpuT.slice(), y: values.map(clean), yaxis: 'y3', xaxis: 'x', line: { color } });
      }
      data.push(line(node.rx, 'y4', `${node.host} rx`));
      data.push(line(node.tx, 'y4', `${node.host} tx`, 'dot'));
    });
    const gap = 0.05;
    const height = (1 - gap * 3) / 4;
    const layout: Record<string, unknown> = {
      title: { text: this.title },
      height: 760,
      margin: { t: 50, r: 20 },
      xaxis: { title: { text: 'seconds' }, anchor: 'y4' },
      legend: { orientation: 'h' },
      annotations: [] as object[],
    };
    panels.forEach((panel, i) => {
      const top = 1 - i * (height + gap);
      const range = panel.endsWith('%') ? { range: [0, 100] } : { rangemode: 'tozero' };
      layout[i === 0 ? 'yaxis' : `yaxis${i + 1}`] = { title: { text: panel }, domain: [top - height, top], anchor: 'x', ...range };
    });
    const withoutGpu = nodes.filter((n) => n.gpu.size === 0).map((n) => n.host);
    if (withoutGpu.length > 0) {
      const top = 1 - 2 * (height + gap);
      (layout.annotations as object[]).push({
        text: `no GPU on ${withoutGpu.join(', ')} (nvidia-smi absent or no NVIDIA device)`,
        xref: 'paper', yref: 'paper', x: 0.5, y: top - height / 2, showarrow: false, font: { color: '#888' },
      });
    }
    if (nodes.length === 0) {
      (layout.annotations as object[]).push({ text: 'waiting for the first resource sample…', xref: 'paper', yref: 'paper', x: 0.5, y: 0.5, showarrow: false });
    }
    return { data, layout };
  }
}

function clean(v: number): number | null {
  return Number.isFinite(v) ? v : null;
}

// ---------------------------------------------------------------- trials

export interface TrialRow {
  trial: number | string;
  [column: string]: string | number | boolean | null | undefined;
}

/** A live table of trials (one row per trial, merged on `trial`). */
export function liveTrialTable(columns: string[], options: LiveOutputOptions & { title?: string } = {}): LiveTable {
  return new LiveTable({ ...options, key: 'trial', columns: ['trial', ...columns.filter((c) => c !== 'trial')] });
}

/** A learning rate as people write it: 3e-4, 1e-3, 2.5e-2 (not 0.0003000). */
export function formatLearningRate(lr: number): string {
  return Number(lr.toPrecision(3)).toExponential();
}

/** What ScanTable needs of a map handle: one task per trial, in order, and reports. */
export interface ScanHandle {
  readonly tasks: readonly { readonly status: string; readonly engineId: number | null; onStatus(listener: (status: string) => void): unknown }[];
  onReport(listener: (data: Record<string, unknown>, engineId: number | null) => void): unknown;
}

/**
 * The trial table of a learning-rate scan: every trial shown from the start
 * ('queued'), its state following its task ('running', 'done', 'error',
 * 'cancelled' — an interrupted or cancelled scan does not leave rows
 * 'running'), and the latest step, loss and validation AUC from its reports.
 */
export class ScanTable {
  readonly table: LiveTable;

  constructor(private readonly trials: readonly { trial: number; learningRate: number }[], options: LiveOutputOptions & { title?: string } = {}) {
    this.table = new LiveTable({ ...options, key: 'trial', columns: ['trial', 'learning rate', 'engine', 'state', 'step', 'loss', 'val AUC'] });
    for (const t of trials) this.table.upsert({ trial: t.trial, 'learning rate': formatLearningRate(t.learningRate), state: 'queued' });
  }

  /** Follows the handle of `cluster.balanced().map(task, trials)` (tasks in the order of `trials`). */
  follow(handle: ScanHandle): this {
    handle.tasks.forEach((task, i) => {
      const trial = this.trials[i].trial;
      const show = (status: string) => this.table.upsert({ trial, state: ScanTable.stateName(status), ...(task.engineId !== null ? { engine: task.engineId } : {}) });
      show(task.status);
      task.onStatus(show);
    });
    handle.onReport((data, engineId) => {
      if (typeof data.trial !== 'number') return;
      const row: TrialRow = { trial: data.trial, ...(engineId !== null ? { engine: engineId } : {}) };
      if (typeof data.step === 'number') row.step = data.step;
      if (data.type === 'step' && typeof data.loss === 'number') row.loss = data.loss;
      if (data.type === 'validation' && typeof data.auc === 'number') row['val AUC'] = data.auc;
      this.table.upsert(row);
    });
    return this;
  }

  close(): void {
    this.table.close();
  }

  /** Task states as the table shows them: submitted/waiting/queued read 'queued'. */
  static stateName(status: string): string {
    return status === 'submitted' || status === 'waiting' ? 'queued' : status;
  }
}
