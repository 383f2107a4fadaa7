/**
 * Task output is coalesced per task for a short while (or up to 64 KiB), so a
 * task printing in a loop costs a few task_stream messages, not one per write.
 */
type StreamName = 'stdout' | 'stderr';

/** Flush a task's buffered output once it holds this much text. */
const MAX_BUFFERED_CHARS = 64 * 1024;

export class StreamCoalescer {
  private readonly buffers = new Map<string, { stdout: string; stderr: string }>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly emit: (taskId: string, name: StreamName, text: string) => void,
    /** how long output waits for more before it is emitted (ms) */
    private readonly flushMs = 30,
  ) {}

  add(taskId: string, name: StreamName, text: string): void {
    let buf = this.buffers.get(taskId);
    if (!buf) this.buffers.set(taskId, (buf = { stdout: '', stderr: '' }));
    buf[name] += text;
    if (buf.stdout.length + buf.stderr.length > MAX_BUFFERED_CHARS) this.flush(taskId);
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, this.flushMs);
    }
  }

  /** Emit what one task (or every task) has buffered. */
  flush(onlyTaskId?: string): void {
    const ids = onlyTaskId !== undefined ? [onlyTaskId] : [...this.buffers.keys()];
    for (const id of ids) {
      const buf = this.buffers.get(id);
      if (!buf) continue;
      this.buffers.delete(id);
      if (buf.stdout) this.emit(id, 'stdout', buf.stdout);
      if (buf.stderr) this.emit(id, 'stderr', buf.stderr);
    }
  }
}
