/**
 * Least-load scheduling of queued tasks over engine slots.
 *
 * Unconstrained tasks wait in a FIFO; each dispatch round builds a min-heap of
 * the engines that have spare capacity (keyed by assigned/slots) and hands
 * tasks to the least-loaded one, so a round costs O(k log k + t log k) for k
 * engines with room and t tasks placed — no scan over all engines or tasks.
 * When many tasks are queued an engine may hold a few more tasks than it has
 * slots (prefetch), which hides the round trip; the engine runs them in order.
 *
 * Constrained tasks (resource requests, target engines, or a retry blacklist)
 * sit in their own list, are matched against engines explicitly, never
 * prefetch, and reserve the GPUs/CPUs/memory they asked for.
 */
import type { EngineResources, ResourceRequest } from '../protocol';

export interface SchedEngine {
  id: number;
  slots: number;
  resources: EngineResources;
  /** task ids sent to this engine and not yet finished there */
  assigned: Set<string>;
  freeGpus: number[];
  freeCpus: number;
  freeMemory: number;
  alive: boolean;
}

export interface SchedTask {
  id: string;
  state: string;
  resources: ResourceRequest | null;
  /** engines this task may run on (targets); null = any */
  allowed: Set<number> | null;
  blacklist: Set<number> | null;
  /** filled when assigned with a resource request */
  reservedGpus: number[] | null;
}

export function isConstrained(task: SchedTask): boolean {
  return task.resources !== null || task.allowed !== null || (task.blacklist !== null && task.blacklist.size > 0);
}

/** FIFO with O(1) shift, compacted as it drains. */
class Deque<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head] = undefined as T;
    this.head += 1;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
}

class EngineHeap {
  private heap: SchedEngine[] = [];
  get size(): number {
    return this.heap.length;
  }
  private less(a: SchedEngine, b: SchedEngine): boolean {
    const la = a.assigned.size / a.slots;
    const lb = b.assigned.size / b.slots;
    return la < lb || (la === lb && a.id < b.id);
  }
  push(e: SchedEngine): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i], h[p])) break;
      [h[i], h[p]] = [h[p], h[i]];
      i = p;
    }
  }
  pop(): SchedEngine | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l], h[m])) m = l;
        if (r < h.length && this.less(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

export interface SchedulerOptions {
  /** most tasks an engine may hold beyond its slots when many are queued */
  prefetch: number;
}

export class Scheduler<T extends SchedTask> {
  readonly engines = new Map<number, SchedEngine>();
  private plain = new Deque<T>();
  private constrained: T[] = [];
  /** engines that can take at least one more task (including prefetch) */
  private roomy = new Set<SchedEngine>();
  private paused = false;

  constructor(
    private readonly assign: (engine: SchedEngine, task: T) => void,
    private readonly opts: SchedulerOptions,
  ) {}

  get queuedPlain(): number {
    return this.plain.length;
  }
  get queuedConstrained(): number {
    return this.constrained.length;
  }

  /** While paused (e.g. waiting for engines to come back after a resume) nothing is dispatched. */
  setPaused(paused: boolean): void {
    this.paused = paused;
  }

  addEngine(engine: SchedEngine): void {
    this.engines.set(engine.id, engine);
    this.updateRoom(engine);
  }

  removeEngine(id: number): SchedEngine | undefined {
    const engine = this.engines.get(id);
    if (!engine) return undefined;
    engine.alive = false;
    this.engines.delete(id);
    this.roomy.delete(engine);
    return engine;
  }

  /** Stop placing tasks on an engine without declaring it dead (it may reconnect). */
  detach(id: number): void {
    const engine = this.engines.get(id);
    if (!engine) return;
    this.engines.delete(id);
    this.roomy.delete(engine);
  }

  enqueue(task: T): void {
    if (isConstrained(task)) this.constrained.push(task);
    else this.plain.push(task);
  }

  /** Record that `task` was sent to `engine` (also used when an engine reports a task it already runs). */
  markAssigned(engine: SchedEngine, task: T): void {
    engine.assigned.add(task.id);
    if (task.resources) this.reserve(engine, task);
    this.updateRoom(engine);
  }

  /** The engine finished (or dropped) `task`: give its slot and resources back. */
  release(engine: SchedEngine, task: T | undefined, taskId: string): void {
    if (!engine.assigned.delete(taskId)) return;
    if (task && task.resources) this.unreserve(engine, task);
    this.updateRoom(engine);
  }

  /** Queued tasks restricted to particular engines (targets). */
  *targetedQueued(): Iterable<T> {
    for (const t of this.constrained) if (t.state === 'queued' && t.allowed) yield t;
  }

  /** Can any live engine ever run this task (ignoring current load)? */
  couldEverRun(task: T): boolean {
    for (const engine of this.engines.values()) if (this.fitsStatically(engine, task)) return true;
    return false;
  }

  dispatch(): number {
    if (this.paused || this.engines.size === 0) return 0;
    let placed = 0;
    if (this.constrained.length > 0 && this.roomy.size > 0) placed += this.dispatchConstrained();
    if (this.plain.length > 0 && this.roomy.size > 0) placed += this.dispatchPlain();
    return placed;
  }

  private capacity(engine: SchedEngine, extra: number): number {
    return engine.slots + extra;
  }

  private updateRoom(engine: SchedEngine): void {
    if (engine.alive && engine.assigned.size < this.capacity(engine, this.opts.prefetch)) this.roomy.add(engine);
    else this.roomy.delete(engine);
  }

  private dispatchPlain(): number {
    const extra = Math.min(this.opts.prefetch, Math.floor(this.plain.length / Math.max(1, this.engines.size)));
    const heap = new EngineHeap();
    for (const engine of this.roomy) if (engine.assigned.size < this.capacity(engine, extra)) heap.push(engine);
    let placed = 0;
    while (heap.size > 0 && this.plain.length > 0) {
      const task = this.plain.shift()!;
      if (task.state !== 'queued') continue;
      if (isConstrained(task)) {
        this.constrained.push(task);
        continue;
      }
      const engine = heap.pop()!;
      this.markAssigned(engine, task);
      this.assign(engine, task);
      placed += 1;
      if (engine.assigned.size < this.capacity(engine, extra)) heap.push(engine);
    }
    return placed;
  }

  private dispatchConstrained(): number {
    const still: T[] = [];
    let placed = 0;
    for (const task of this.constrained) {
      if (task.state !== 'queued') continue;
      const engine = this.bestEngineFor(task);
      if (!engine) {
        still.push(task);
        continue;
      }
      this.markAssigned(engine, task);
      this.assign(engine, task);
      placed += 1;
    }
    this.constrained = still;
    return placed;
  }

  private bestEngineFor(task: T): SchedEngine | null {
    let best: SchedEngine | null = null;
    const consider = (engine: SchedEngine | undefined) => {
      if (!engine || !engine.alive || engine.assigned.size >= engine.slots) return;
      if (!this.fitsNow(engine, task)) return;
      if (!best || engine.assigned.size / engine.slots < best.assigned.size / best.slots) best = engine;
    };
    if (task.allowed) for (const id of task.allowed) consider(this.engines.get(id));
    else for (const engine of this.roomy) consider(engine);
    return best;
  }

  private fitsStatically(engine: SchedEngine, task: T): boolean {
    if (task.allowed && !task.allowed.has(engine.id)) return false;
    if (task.blacklist && task.blacklist.has(engine.id)) return false;
    const r = task.resources;
    if (!r) return true;
    return (
      (r.gpus ?? 0) <= engine.resources.gpus.length &&
      (r.cpus ?? 0) <= engine.resources.cpus &&
      (r.memory_bytes ?? 0) <= engine.resources.memory_bytes
    );
  }

  private fitsNow(engine: SchedEngine, task: T): boolean {
    if (!this.fitsStatically(engine, task)) return false;
    const r = task.resources;
    if (!r) return true;
    return (r.gpus ?? 0) <= engine.freeGpus.length && (r.cpus ?? 0) <= engine.freeCpus && (r.memory_bytes ?? 0) <= engine.freeMemory;
  }

  private reserve(engine: SchedEngine, task: T): void {
    const r = task.resources!;
    const gpus = r.gpus ?? 0;
    task.reservedGpus = gpus > 0 ? engine.freeGpus.splice(0, gpus) : [];
    engine.freeCpus -= r.cpus ?? 0;
    engine.freeMemory -= r.memory_bytes ?? 0;
  }

  private unreserve(engine: SchedEngine, task: T): void {
    const r = task.resources!;
    if (task.reservedGpus) {
      engine.freeGpus.push(...task.reservedGpus);
      engine.freeGpus.sort((a, b) => a - b);
    }
    task.reservedGpus = null;
    engine.freeCpus += r.cpus ?? 0;
    engine.freeMemory += r.memory_bytes ?? 0;
  }
}
