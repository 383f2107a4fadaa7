/**
 * The one wording of "input from the other side was dropped" in log lines,
 * for every transport: a WebSocket frame that failed to decode or verify
 * (./peer.ts), a TCP connection that did not authenticate (the rank links),
 * and a limit on how many such lines get written, since whoever sends the
 * bad input also decides how many lines it causes.
 */
export function droppedLine(prefix: string, what: string, from: string, reason: string): string {
  return `${prefix} dropped ${what} from ${from}: ${reason}`;
}

/**
 * Lets through at most `burst` lines per `windowMs`; the first line after a
 * window in which some were held back says how many.
 */
export class LogLimiter {
  private windowStart = 0;
  private written = 0;
  private suppressed = 0;

  constructor(
    private readonly log: (line: string) => void,
    private readonly burst = 20,
    private readonly windowMs = 10_000,
  ) {}

  line(text: string): void {
    const now = Date.now();
    if (now - this.windowStart >= this.windowMs) {
      if (this.suppressed > 0) this.log(`(${this.suppressed} similar line(s) suppressed in the last ${Math.round((now - this.windowStart) / 1000)} s)`);
      this.windowStart = now;
      this.written = 0;
      this.suppressed = 0;
    }
    if (this.written < this.burst) {
      this.written += 1;
      this.log(text);
    } else this.suppressed += 1;
  }

  /** lines held back in the current window */
  get held(): number {
    return this.suppressed;
  }
}
