/**
 * When the scheduler runs and outboxes flush. Work that becomes runnable
 * while an incoming frame is being handled is dispatched once the whole frame
 * is handled; otherwise dispatch runs on the next check phase, and then
 * every outbox that got something flushes.
 */
import type { Outbox } from './outbox';

export class DispatchLoop {
  /** outboxes with queued items, flushed when the current incoming frame is fully handled */
  private readonly dirty = new Set<Outbox>();
  private scheduled = false;
  private wanted = false;
  private inFrame = false;

  constructor(
    private readonly dispatch: () => void,
    private readonly isClosed: () => boolean,
  ) {}

  markDirty(outbox: Outbox): void {
    this.dirty.add(outbox);
  }

  request(): void {
    if (this.isClosed()) return;
    if (this.inFrame) {
      this.wanted = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
      this.flushDirty();
    });
  }

  /**
   * Handle one incoming frame, then dispatch what became runnable right away;
   * the outboxes flush in this loop iteration's check phase (setImmediate), so
   * every frame read in one poll phase is answered with one batch per peer.
   */
  duringFrame(handleAll: () => void): void {
    this.inFrame = true;
    handleAll();
    this.inFrame = false;
    if (this.wanted) {
      this.wanted = false;
      this.dispatch();
    }
  }

  private flushDirty(): void {
    if (this.dirty.size === 0) return;
    for (const o of this.dirty) o.flush();
    this.dirty.clear();
  }
}
