/**
 * The engines the controller knows: live ones by id, recently dead ones for
 * the dashboard, and the stable engine uuid → id map that lets a restarted
 * engine or a resumed controller keep the same ids.
 */
import type { EngineSummary, RegisterRequest } from '../protocol';
import type { EngineInfo } from './types';

const DEAD_ENGINES_KEPT = 1000;

export class EngineRegistry {
  private readonly engines = new Map<number, EngineInfo>();
  private readonly dead: EngineInfo[] = [];
  private readonly uuidToId = new Map<string, number>();
  private nextEngineId = 0;

  get size(): number {
    return this.engines.size;
  }

  get deadCount(): number {
    return this.dead.length;
  }

  get(id: number): EngineInfo | undefined {
    return this.engines.get(id);
  }

  has(id: number): boolean {
    return this.engines.has(id);
  }

  alive(): IterableIterator<EngineInfo> {
    return this.engines.values();
  }

  sortedIds(): number[] {
    return [...this.engines.keys()].sort((a, b) => a - b);
  }

  totalSlots(): number {
    return [...this.engines.values()].reduce((n, e) => n + e.slots, 0);
  }

  /** The id for a registering engine: the one its uuid had, else the id it asks back, else a new one. */
  idFor(c: RegisterRequest): number {
    const known = this.uuidToId.get(c.engine_uuid);
    if (known !== undefined) return known;
    const prev = c.previous_id;
    if (typeof prev === 'number' && Number.isInteger(prev) && prev >= 0 && !this.engines.has(prev) && ![...this.uuidToId.values()].includes(prev)) {
      this.nextEngineId = Math.max(this.nextEngineId, prev + 1);
      return prev;
    }
    return this.nextEngineId++;
  }

  add(engine: EngineInfo): void {
    this.engines.set(engine.id, engine);
    this.uuidToId.set(engine.uuid, engine.id);
  }

  /** An engine id read back from the journal of an earlier controller. */
  restoreId(uuid: string, id: number): void {
    this.uuidToId.set(uuid, id);
    this.nextEngineId = Math.max(this.nextEngineId, id + 1);
  }

  /** Every engine id this cluster gave out, by engine uuid, and whether it is alive (for journal compaction). */
  *idRecords(): Iterable<{ uuid: string; id: number; alive: boolean }> {
    for (const [uuid, id] of this.uuidToId) yield { uuid, id, alive: this.engines.get(id)?.uuid === uuid };
  }

  /** Move an engine from the live table to the dead list. */
  retire(engine: EngineInfo, reason: string): void {
    if (this.engines.get(engine.id) === engine) this.engines.delete(engine.id);
    engine.diedMs = Date.now();
    engine.deathReason = reason;
    this.dead.push(engine);
    if (this.dead.length > DEAD_ENGINES_KEPT) this.dead.shift();
  }

  /** A live engine, else the oldest remembered dead one with this id. */
  findAny(id: number): EngineInfo | undefined {
    return this.engines.get(id) ?? this.dead.find((d) => d.id === id);
  }

  summaries(): EngineSummary[] {
    return [...this.engines.values()]
      .sort((a, b) => a.id - b.id)
      .map((e) => ({
        engine_id: e.id,
        host: e.host,
        pid: e.pid,
        slots: e.slots,
        running: e.assigned.size,
        resources: e.resources,
        labels: e.labels,
        state: 'alive' as const,
      }));
  }

  /** The remembered dead engines, oldest first. */
  deadList(): readonly EngineInfo[] {
    return this.dead;
  }
}
