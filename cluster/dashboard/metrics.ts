/**
 * GET /metrics in the Prometheus text format, written by prom-client from
 * the controller's tables at scrape time: engines and tasks by state, tasks
 * dispatched (a counter: Prometheus's rate() is the dispatch rate) and the
 * last second's rate, queue depth, per-node CPU / memory / GPU from the
 * engines' latest resource samples, and training throughput per rank from
 * task reports. Its own registry, so two controllers in one process do not mix.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DashboardSource } from './source';
import type { DashboardState } from './state';

const TASK_STATES = ['waiting', 'queued', 'running', 'done', 'error', 'cancelled'];

export class DashboardMetrics {
  readonly registry = new Registry();

  constructor(source: DashboardSource, state: DashboardState) {
    const r = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'hpcdl_controller_' });
    const status = () => source.status();
    new Gauge({
      name: 'hpcdl_engines',
      help: 'Engines known to the controller, by state',
      labelNames: ['state'],
      registers: r,
      collect() {
        const e = (status().engines ?? {}) as Record<string, number>;
        this.set({ state: 'alive' }, e.alive ?? 0);
        this.set({ state: 'dead' }, e.dead ?? 0);
      },
    });
    new Gauge({
      name: 'hpcdl_tasks',
      help: 'Tasks in the controller table, by state',
      labelNames: ['state'],
      registers: r,
      collect() {
        const t = (status().tasks ?? {}) as Record<string, number>;
        for (const s of TASK_STATES) this.set({ state: s }, t[s] ?? 0);
      },
    });
    new Counter({
      name: 'hpcdl_tasks_dispatched_total',
      help: 'Tasks started on engines since the controller started (rate() of it is the dispatch rate)',
      registers: r,
      collect() {
        this.reset();
        this.inc(state.dispatched);
      },
    });
    new Gauge({
      name: 'hpcdl_tasks_finished_per_second',
      help: 'Tasks finished per second over the last dashboard tick (about 1 s)',
      registers: r,
      collect() {
        const last = state.series.toArray().pop();
        this.set(last?.tasks_per_s ?? 0);
      },
    });
    new Gauge({
      name: 'hpcdl_queue_depth',
      help: 'Tasks queued for an engine',
      registers: r,
      collect() {
        const q = (status().queue ?? {}) as Record<string, number>;
        this.set((q.plain ?? 0) + (q.constrained ?? 0));
      },
    });
    const nodeGauge = (name: string, help: string, pick: (p: { cpu: number; mem: number; gpu: number | null; gpu_mem: number | null }) => number | null) =>
      new Gauge({
        name,
        help,
        labelNames: ['host'],
        registers: r,
        collect() {
          this.reset();
          for (const [host, ring] of state.nodes) {
            const last = ring.toArray().pop();
            const v = last ? pick(last) : null;
            if (v !== null) this.set({ host }, v);
          }
        },
      });
    nodeGauge('hpcdl_node_cpu_percent', 'Node CPU busy, percent of all cores (latest engine sample)', (p) => p.cpu);
    nodeGauge('hpcdl_node_memory_used_bytes', 'Node memory in use (latest engine sample)', (p) => p.mem);
    nodeGauge('hpcdl_node_gpu_utilization_percent', 'Mean GPU utilisation of the node (nodes with GPUs only)', (p) => p.gpu);
    nodeGauge('hpcdl_node_gpu_memory_used_bytes', 'GPU memory in use on the node (nodes with GPUs only)', (p) => p.gpu_mem);
    new Gauge({
      name: 'hpcdl_training_images_per_second',
      help: 'Training throughput of each rank (latest report) and of the whole training (rank="all")',
      labelNames: ['training', 'rank'],
      registers: r,
      collect() {
        this.reset();
        for (const t of state.trainingSeries()) {
          let total = 0;
          for (const { rank, points } of t.ranks) {
            const ips = points[points.length - 1]?.images_per_s;
            if (ips === null || ips === undefined) continue;
            this.set({ training: t.key, rank: String(rank) }, ips);
            total += ips;
          }
          this.set({ training: t.key, rank: 'all' }, total);
        }
      },
    });
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
