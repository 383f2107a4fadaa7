/**
 * Retry timing of a connection that cannot reach the other side, for every
 * transport (the reconnecting WebSocket peers of ./peer.ts, the TCP dials of
 * ./tcp-socket.ts): the delay before the next attempt, doubled per failure up
 * to a ceiling, and how long the other side has been unreachable.
 */

export interface BackoffOptions {
  /** first retry delay (ms, default 200) */
  initialDelayMs?: number;
  /** longest retry delay (ms, default 2000) */
  maxDelayMs?: number;
}

export class Backoff {
  private delayMs: number;
  private unreachableSince: number | null = null;

  constructor(private readonly opts: BackoffOptions = {}) {
    this.delayMs = opts.initialDelayMs ?? 200;
  }

  /** An attempt failed: the delay before the next one, and how long the other side has been unreachable (0 at the first failure). */
  failed(): { delayMs: number; waitedMs: number } {
    const now = Date.now();
    if (this.unreachableSince === null) this.unreachableSince = now;
    const delayMs = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.opts.maxDelayMs ?? 2000);
    return { delayMs, waitedMs: now - this.unreachableSince };
  }

  /** The other side answered: delays start over and the unreachable clock stops. */
  reset(): void {
    this.unreachableSince = null;
    this.delayMs = this.opts.initialDelayMs ?? 200;
  }
}
