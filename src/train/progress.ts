/** A one-line progress bar for terminals; the caller decides whether stdout is one. */
export class ProgressBar {
  private visible = false;
  private lastDraw = 0;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly width = 30,
  ) {}

  update(done: number, total: number, fields: Record<string, string>): void {
    const now = Date.now();
    if (now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    const fraction = total > 0 ? Math.min(1, done / total) : 0;
    const filled = Math.round(fraction * this.width);
    const bar = '#'.repeat(filled) + '.'.repeat(this.width - filled);
    const info = Object.entries(fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    this.stream.write(`\r\x1b[2K[${bar}] ${done}/${total}  ${info}`);
    this.visible = true;
  }

  /** Erase the bar so that a log line can be printed. */
  clear(): void {
    if (!this.visible) return;
    this.stream.write('\r\x1b[2K');
    this.visible = false;
  }
}
