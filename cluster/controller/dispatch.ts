/**
 * When the scheduler runs and outboxes flush. Work that becomes runnable
 * while an incoming frame is being handled is dispatched, and the outboxes
 * flushed, once the whole frame is handled; work that becomes runnable
 * otherwise (timers, disconnects) is dispatched on the next check phase.
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
   * Handle one incoming frame, dispatch what became runnable, and send what
   * the frame produced at once: a frame already carries a batch (engines and
   * clients batch per turn), and waiting for the check phase cost every round
   * trip two more loop phases for little extra batching.
   */
  duringFrame(handleAll: () => void): void {
    this.inFrame = true;
    handleAll();
    this.inFrame = false;
    if (this.wanted) {
      this.wanted = false;
      this.dispatch();
    }
    this.flushDirty();
  }

  private flushDirty(): void {
    if (this.dirty.size === 0) return;
    for (const o of this.dirty) o.flush();
    this.dirty.clear();
  }
}
