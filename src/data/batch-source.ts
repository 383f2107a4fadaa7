/**
 * What every batch source shares: epochs, read-ahead through the Prefetcher,
 * recycling of image buffers handed back by the consumer, close.
 */
import { DataOptionsError } from './errors';
import { Prefetcher } from './prefetch';
import type { ImageLayout, Normalised } from './source-options';
import type { BatchSource, EventBatch } from './types';

export abstract class BaseSource implements BatchSource {
  readonly batchSize: number;
  abstract readonly numEvents: number;
  protected readonly o: Normalised;
  private prefetcher: Prefetcher | null = null;
  private generation = 0;
  protected closed = false;

  constructor(o: Normalised) {
    this.o = o;
    this.batchSize = o.batchSize;
  }

  /** Produce the next batch of epoch state `gen`, or null at the end. */
  protected abstract produce(): EventBatch | null | Promise<EventBatch | null>;
  protected abstract resetEpoch(epoch: number): void;
  /** true when produce() reserves its events synchronously (see Prefetcher) */
  protected concurrentProduce(): boolean {
    return false;
  }

  startEpoch(epoch: number): void {
    if (this.closed) throw new DataOptionsError('startEpoch on a closed batch source');
    this.generation++;
    this.resetEpoch(epoch);
    const gen = this.generation;
    this.prefetcher = new Prefetcher(() => (gen === this.generation ? this.produce() : null), this.o.prefetch, this.concurrentProduce());
  }

  next(): Promise<EventBatch | null> {
    if (this.closed) return Promise.reject(new DataOptionsError('next() on a closed batch source'));
    if (!this.prefetcher) this.startEpoch(0);
    return this.prefetcher!.next();
  }

  /** Full-size image buffers handed back by the consumer, reused for later batches. */
  private imagePool: Float32Array[] = [];

  recycle(batch: EventBatch): void {
    const images = batch.images;
    const full = this.o.batchSize * batch.shape.slice(1).reduce((a, b) => a * b, 1);
    if (images.length !== full || images.byteOffset !== 0 || images.buffer.byteLength !== full * 4) return;
    if (this.imagePool.length < this.o.prefetch + 2 && !this.imagePool.includes(images)) this.imagePool.push(images);
  }

  /** An image buffer for a batch (recycled when possible); contents are garbage until written. */
  protected imageBuffer(length: number): Float32Array {
    const i = this.imagePool.findIndex((a) => a.length === length);
    if (i >= 0) return this.imagePool.splice(i, 1)[0];
    return allocFloat32(length);
  }

  async close(): Promise<void> {
    this.imagePool = [];
    this.closed = true;
    this.generation++;
    this.prefetcher = null;
    this.release();
  }

  protected release(): void {}

  protected eventsPerEpoch(total: number): number {
    return this.o.dropRemainder ? Math.floor(total / this.o.batchSize) * this.o.batchSize : total;
  }
}

export function imageShapeOf(layout: ImageLayout, b: number, c: number, h: number, w: number): [number, number, number, number] {
  return layout === 'NCHW' ? [b, c, h, w] : [b, h, w, c];
}

/** A float32 array without zero-filling (it is about to be overwritten by a read). */
export function allocFloat32(length: number): Float32Array {
  const buf = Buffer.allocUnsafeSlow(length * 4);
  return buf.byteOffset % 4 === 0 ? new Float32Array(buf.buffer, buf.byteOffset, length) : new Float32Array(length);
}
