/**
 * A fixed-capacity FIFO that overwrites its oldest entry when full: O(1) per
 * push, never shifts or reallocates once `capacity` entries have been seen.
 */
export class RingBuffer<T> {
  private readonly items: T[] = [];
  /** index of the oldest entry once the buffer is full */
  private start = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new Error(`ring buffer capacity must be a non-negative integer, got ${capacity}`);
  }

  get length(): number {
    return this.items.length;
  }

  push(item: T): void {
    if (this.capacity === 0) return;
    if (this.items.length < this.capacity) {
      this.items.push(item);
      return;
    }
    this.items[this.start] = item;
    this.start = (this.start + 1) % this.capacity;
  }

  /** Oldest first. */
  *[Symbol.iterator](): IterableIterator<T> {
    const n = this.items.length;
    for (let i = 0; i < n; i++) yield this.items[(this.start + i) % n];
  }
}
