/** Read-ahead for batch sources. */
import type { EventBatch } from './types';

/** Serialises batch production and keeps up to `depth` batches in flight ahead of the consumer. */
export class Prefetcher {
  private queue: Promise<EventBatch | null>[] = [];
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * `concurrent`: the producer reserves its events synchronously when called,
   * so the next batch may start before the previous one finished (its reads
   * then overlap); otherwise batches are produced strictly one after another.
   */
  constructor(
    private readonly produce: () => EventBatch | null | Promise<EventBatch | null>,
    private readonly depth: number,
    private readonly concurrent = false,
  ) {}

  next(): Promise<EventBatch | null> {
    if (this.queue.length === 0) this.enqueue(false);
    const batch = this.queue.shift()!;
    while (this.queue.length < this.depth) this.enqueue(true);
    return batch;
  }

  private enqueue(background: boolean): void {
    const after = this.concurrent ? (background ? yieldToEventLoop() : Promise.resolve()) : this.tail.then(() => (background ? yieldToEventLoop() : undefined));
    const p = after.then(() => this.produce());
    this.tail = p.catch(() => undefined);
    // a read-ahead that fails is reported when (if) the consumer asks for that batch
    p.catch(() => undefined);
    this.queue.push(p);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
