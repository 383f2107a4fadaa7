/**
 * The dashboard's own memory: bounded histories built from what the
 * controller feeds it (task changes, reports, resource samples, engine
 * events) plus a once-a-second sample of the controller's counters. Every
 * history is a ring of fixed capacity, so a week-long allocation with
 * millions of tasks costs the same memory as a short one.
 */
import type { DashboardFeed, TaskChange } from './source';

/** A fixed-capacity FIFO with a running sequence number (what a client saw last). */
export class Ring<T> {
  private readonly items: T[] = [];
  private start = 0;
  /** number of items ever pushed */
  seq = 0;

  constructor(readonly capacity: number) {}

  push(item: T): void {
    this.seq += 1;
    if (this.items.length < this.capacity) this.items.push(item);
    else {
      this.items[this.start] = item;
      this.start = (this.start + 1) % this.capacity;
    }
  }

  /** Oldest first. */
  toArray(): T[] {
    return [...this.items.slice(this.start), ...this.items.slice(0, this.start)];
  }

  last(): T | undefined {
    if (!this.items.length) return undefined;
    return this.items[(this.start + this.items.length - 1) % this.items.length];
  }

  /** The items pushed after sequence number `since` (those still kept). */
  since(since: number): T[] {
    const n = Math.min(this.seq - since, this.items.length);
    return n <= 0 ? [] : this.toArray().slice(-n);
  }
}

// Capacities: 10 min of 1 s points per series; the task stream and failures as
// many as the page can draw without lag (measured: 5,000 bars re-render in
// ~40 ms in headless Chromium); 20 trainings of 2,000 steps per rank.
const SERIES_POINTS = 600;
const NODE_POINTS = 300;
const TASK_STREAM = 5000;
const FAILURES = 200;
const REPORTS = 500;
const TRAININGS = 20;
const TRAINING_POINTS = 2000;
/** node lines drawn at most; beyond, the busiest nodes and the mean of all */
export const MAX_NODE_LINES = 16;

export interface SeriesPoint {
  t: number;
  queued: number;
  running: number;
  waiting: number;
  done: number;
  error: number;
  cancelled: number;
  tasks_per_s: number;
  alive: number;
  dead: number;
  controller_cpu: number;
  controller_rss: number;
}

export interface NodePoint {
  t: number;
  cpu: number;
  mem: number;
  mem_percent: number;
  gpu: number | null;
  gpu_mem: number | null;
  net: number;
  disk: number;
}

export interface StreamBar {
  task_id: string;
  engine_id: number | null;
  start: number;
  end: number;
  state: string;
}

export interface Failure {
  task_id: string;
  engine_id: number | null;
  time: number;
  ename: string;
  evalue: string;
}

export interface TrainingPoint {
  step: number;
  t: number;
  loss: number | null;
  accuracy: number | null;
  images_per_s: number | null;
}

interface Training {
  key: string;
  updated: number;
  ranks: Map<number, Ring<TrainingPoint>>;
}

/** task id of a distributed training's rank: `<client prefix>-<n>` → the client's prefix groups the ranks it started */
function trainingKey(taskId: string): string {
  const dash = taskId.lastIndexOf('-');
  return dash > 0 ? taskId.slice(0, dash) : taskId;
}

/** Mean / sum of the known values; null when none is known (no GPU, or nvidia-smi said [N/A]). */
export function meanOf(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) / known.length : null;
}

export function sumOf(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length ? known.reduce((a, b) => a + b, 0) : null;
}

function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export class DashboardState implements DashboardFeed {
  readonly series = new Ring<SeriesPoint>(SERIES_POINTS);
  readonly nodes = new Map<string, Ring<NodePoint>>();
  readonly stream = new Ring<StreamBar>(TASK_STREAM);
  readonly failures = new Ring<Failure>(FAILURES);
  readonly reportsRing = new Ring<{ task_id: string; engine_id: number | null; t: number; data: Record<string, unknown> }>(REPORTS);
  private readonly trainings = new Map<string, Training>();
  private readonly lastNodeSecond = new Map<string, number>();
  /** per-second sums over every node, for the mean line (O(1) per sample, not a pass over all nodes' histories) */
  private readonly nodeSums = new Ring<{ second: number; n: number; gpuN: number; sum: NodePoint }>(NODE_POINTS);
  private readonly rankOfTask = new Map<string, number>();
  /** tasks started (dispatched) so far, for the dispatch rate */
  dispatched = 0;
  finished = 0;
  private lastTick = { t: Date.now(), finished: 0, cpu: process.cpuUsage() };
  /** bumped on each change a push should carry */
  version = 0;

  taskChanged(c: TaskChange): void {
    if (c.state === 'running') this.dispatched += 1;
    if (c.state !== 'done' && c.state !== 'error' && c.state !== 'cancelled') return;
    this.finished += 1;
    const end = c.finished_ms ?? Date.now();
    this.stream.push({ task_id: c.task_id, engine_id: c.engine_id, start: c.started_ms ?? end, end, state: c.state });
    if (c.state === 'error' && c.error) this.failures.push({ task_id: c.task_id, engine_id: c.engine_id, time: end, ename: c.error.ename, evalue: c.error.evalue.slice(0, 2000) });
    this.rankOfTask.delete(c.task_id);
    this.version += 1;
  }

  report(taskId: string, engineId: number | null, data: Record<string, unknown>): void {
    this.reportsRing.push({ task_id: taskId, engine_id: engineId, t: Date.now(), data });
    this.version += 1;
    const rankField = num(data.rank);
    if (rankField !== null) this.rankOfTask.set(taskId, rankField);
    const loss = num(data.loss) ?? num(data.rankLoss) ?? num(data.trainLoss);
    const accuracy = num(data.accuracy) ?? num(data.val_accuracy);
    const ips = num(data.imagesPerSec) ?? num(data.images_per_s) ?? num(data.throughput);
    if (loss === null && accuracy === null && ips === null) return;
    const step = num(data.step) ?? num(data.epoch) ?? 0;
    // ranks (reports that name their rank, as cluster.train's do) group by client; any other task is a training of its own
    const key = rankField !== null || this.rankOfTask.has(taskId) ? trainingKey(taskId) : taskId;
    let training = this.trainings.get(key);
    if (!training) {
      training = { key, updated: 0, ranks: new Map() };
      this.trainings.set(key, training);
      if (this.trainings.size > TRAININGS) {
        const oldest = [...this.trainings.values()].sort((a, b) => a.updated - b.updated)[0];
        this.trainings.delete(oldest.key);
      }
    }
    training.updated = Date.now();
    const rank = rankField ?? this.rankOfTask.get(taskId) ?? 0;
    let ring = training.ranks.get(rank);
    if (!ring) training.ranks.set(rank, (ring = new Ring(TRAINING_POINTS)));
    ring.push({ step, t: Date.now(), loss, accuracy, images_per_s: ips });
  }

  resources(_engineId: number, sample: Record<string, unknown>): void {
    const host = String(sample.host ?? 'unknown');
    const t = Number(sample.time_ms) || Date.now();
    // engines on one node send the same node sample: keep one per node per second
    const second = Math.floor(t / 1000);
    if (this.lastNodeSecond.get(host) === second) return;
    this.lastNodeSecond.set(host, second);
    const cpu = sample.cpu as { total_percent?: number } | undefined;
    const mem = sample.memory as { used_bytes?: number; percent?: number } | undefined;
    const net = sample.network as { rx_bytes_per_s?: number; tx_bytes_per_s?: number } | undefined;
    const disk = sample.disk as { read_bytes_per_s?: number; write_bytes_per_s?: number } | undefined;
    const gpus = Array.isArray(sample.gpus) ? (sample.gpus as { utilization_percent: number | null; memory_used_bytes: number | null }[]) : [];
    let ring = this.nodes.get(host);
    if (!ring) this.nodes.set(host, (ring = new Ring(NODE_POINTS)));
    const point: NodePoint = {
      t,
      cpu: num(cpu?.total_percent) ?? 0,
      mem: num(mem?.used_bytes) ?? 0,
      mem_percent: num(mem?.percent) ?? 0,
      gpu: meanOf(gpus.map((g) => g.utilization_percent)),
      gpu_mem: sumOf(gpus.map((g) => g.memory_used_bytes)),
      net: (num(net?.rx_bytes_per_s) ?? 0) + (num(net?.tx_bytes_per_s) ?? 0),
      disk: (num(disk?.read_bytes_per_s) ?? 0) + (num(disk?.write_bytes_per_s) ?? 0),
    };
    ring.push(point);
    this.addToMean(second, point);
  }

  private addToMean(second: number, p: NodePoint): void {
    const newest = this.nodeSums.last();
    // samples arrive in time order, give or take a second: the newest bucket is the usual one
    let bucket = newest?.second === second ? newest : newest && second < newest.second ? this.nodeSums.toArray().find((b) => b.second === second) : undefined;
    if (!bucket) {
      if (newest && second < newest.second) return; // older than the buckets kept, or a second skipped long ago
      bucket = { second, n: 0, gpuN: 0, sum: { t: second * 1000, cpu: 0, mem: 0, mem_percent: 0, gpu: 0, gpu_mem: 0, net: 0, disk: 0 } };
      this.nodeSums.push(bucket);
    }
    const s = bucket.sum;
    bucket.n += 1;
    s.cpu += p.cpu;
    s.mem += p.mem;
    s.mem_percent += p.mem_percent;
    s.net += p.net;
    s.disk += p.disk;
    if (p.gpu !== null) {
      bucket.gpuN += 1;
      s.gpu! += p.gpu;
      s.gpu_mem! += p.gpu_mem ?? 0;
    }
  }

  engineEvent(): void {
    this.version += 1;
  }

  /** Once a second: a point of the overview series from the controller's counters. */
  tick(status: Record<string, unknown>): SeriesPoint {
    const now = Date.now();
    const cpu = process.cpuUsage();
    const prev = this.lastTick;
    const seconds = Math.max(0.001, (now - prev.t) / 1000);
    const cpuPercent = ((cpu.user - prev.cpu.user + cpu.system - prev.cpu.system) / 1e6 / seconds) * 100;
    this.lastTick = { t: now, finished: this.finished, cpu };
    const tasks = (status.tasks ?? {}) as Record<string, number>;
    const engines = (status.engines ?? {}) as Record<string, number>;
    const memory = (status.memory ?? {}) as Record<string, number>;
    const point: SeriesPoint = {
      t: now,
      queued: tasks.queued ?? 0,
      running: tasks.running ?? 0,
      waiting: tasks.waiting ?? 0,
      done: tasks.done ?? 0,
      error: tasks.error ?? 0,
      cancelled: tasks.cancelled ?? 0,
      tasks_per_s: Math.round(((this.finished - prev.finished) / seconds) * 10) / 10,
      alive: engines.alive ?? 0,
      dead: engines.dead ?? 0,
      controller_cpu: Math.round(cpuPercent * 10) / 10,
      controller_rss: memory.rss ?? 0,
    };
    this.series.push(point);
    return point;
  }

  /** Node lines to draw: every node up to MAX_NODE_LINES, else the busiest ones plus the mean of all. */
  nodeSeries(): { host: string; points: NodePoint[] }[] {
    if (this.nodes.size <= MAX_NODE_LINES) return [...this.nodes.entries()].map(([host, ring]) => ({ host, points: ring.toArray() })).sort((a, b) => a.host.localeCompare(b.host));
    const all = [...this.nodes.entries()].map(([host, ring]) => ({ host, ring, cpu: ring.last()?.cpu ?? 0 }));
    const busiest = all.sort((a, b) => b.cpu - a.cpu).slice(0, MAX_NODE_LINES - 1).map(({ host, ring }) => ({ host, points: ring.toArray() }));
    const mean = this.nodeSums
      .toArray()
      .sort((a, b) => a.second - b.second)
      .map(({ n, gpuN, sum }) => ({ t: sum.t, cpu: sum.cpu / n, mem: sum.mem / n, mem_percent: sum.mem_percent / n, gpu: gpuN ? sum.gpu! / gpuN : null, gpu_mem: gpuN ? sum.gpu_mem! / gpuN : null, net: sum.net / n, disk: sum.disk / n }));
    return [...busiest, { host: `mean of ${all.length} nodes`, points: mean }];
  }

  trainingSeries(): { key: string; ranks: { rank: number; points: TrainingPoint[] }[] }[] {
    return [...this.trainings.values()]
      .sort((a, b) => b.updated - a.updated)
      .map((t) => ({ key: t.key, ranks: [...t.ranks.entries()].sort((a, b) => a[0] - b[0]).map(([rank, ring]) => ({ rank, points: ring.toArray() })) }));
  }
}
