/**
 * The client's view of the engines: filled from connect_reply and
 * engines_reply, kept current by engine_event, and waited on by
 * `waitForEngines`.
 */
import type { EngineEvent, EngineSummary } from '../protocol';

export class EngineTable {
  private readonly engines = new Map<number, EngineSummary>();
  private readonly waiters = new Set<() => void>();

  /** Ids of the engines alive, ascending. */
  get aliveIds(): number[] {
    return [...this.engines.values()].filter((e) => e.state === 'alive').map((e) => e.engine_id).sort((a, b) => a - b);
  }

  /** Replace the whole table (after a (re)connection). */
  reset(engines: EngineSummary[]): void {
    this.engines.clear();
    this.update(engines);
  }

  /** Take these summaries as the latest (without waking waiters: see `changed`). */
  update(engines: EngineSummary[]): void {
    for (const e of engines) this.engines.set(e.engine_id, e);
  }

  /** Apply an engine_event; returns what was known of the engine before it. */
  apply(ev: EngineEvent): EngineSummary | undefined {
    const known = this.engines.get(ev.engine_id);
    const state = ev.event === 'registered' ? 'alive' : 'dead';
    // A newcomer is known only by id and host until the next engines_reply.
    this.engines.set(ev.engine_id, known ? { ...known, state } : ({ engine_id: ev.engine_id, host: ev.host, state, labels: {} } as unknown as EngineSummary));
    return known;
  }

  /** Wake the waiters (the table changed). */
  changed(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolve once at least `count` engines are alive; `refresh` asks the
   * controller once; `describeFailure` adds detail to the timeout's error.
   */
  waitFor(count: number, timeoutMs: number, refresh: () => Promise<unknown>, describeFailure: (alive: number) => string): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.aliveIds.length >= count) {
          cleanup();
          resolve();
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(describeFailure(this.aliveIds.length)));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      if (!check()) {
        this.waiters.add(check);
        void refresh().then(() => check(), () => undefined);
      }
    });
  }
}
