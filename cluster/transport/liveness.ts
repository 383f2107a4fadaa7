/**
 * Heartbeat and liveness of one connection, for every transport (the
 * WebSocket peers of ./peer.ts and the TCP rank-to-rank links): beat when
 * nothing was sent for an interval, and report the other side silent when
 * nothing was heard for longer than `silentMs`.
 */

export interface LivenessOptions {
  intervalMs: number;
  /** nothing heard for this long: onSilent */
  silentMs: number;
  /** send a beat; called on a tick when nothing was sent for intervalMs (every tick when the owner never calls sent()) */
  beat?: () => void;
  onSilent(silentForMs: number): void;
  /** ticks are skipped while this says false (e.g. the socket is not open) */
  active?: () => boolean;
  /** the timer keeps the process alive (default true) */
  holdsProcess?: boolean;
}

export class Liveness {
  private lastHeard = Date.now();
  private lastSent = 0;
  private lastTick = Date.now();
  private timer: NodeJS.Timeout | null = null;

  /** Start ticking (replaces an earlier start); the silence clock starts now. */
  start(o: LivenessOptions): void {
    this.stop();
    const now = Date.now();
    this.lastHeard = now;
    this.lastTick = now;
    this.timer = setInterval(() => this.tick(o), o.intervalMs);
    if (o.holdsProcess === false) this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get running(): boolean {
    return this.timer !== null;
  }

  /** Something arrived from the other side. */
  heard(): void {
    this.lastHeard = Date.now();
  }

  /** Something left for the other side (a beat is not needed this interval). */
  sent(): void {
    this.lastSent = Date.now();
  }

  private tick(o: LivenessOptions): void {
    const now = Date.now();
    const late = now - this.lastTick > 2 * o.intervalMs;
    this.lastTick = now;
    if (o.active && !o.active()) return;
    // A tick that comes late means this process's own event loop was blocked:
    // the data that arrived meanwhile has not been read yet, so the other
    // side's silence cannot be judged on this tick.
    if (late) return;
    const silentFor = now - this.lastHeard;
    if (silentFor > o.silentMs) {
      this.stop();
      o.onSilent(silentFor);
      return;
    }
    if (o.beat && now - this.lastSent >= o.intervalMs) o.beat();
  }
}
