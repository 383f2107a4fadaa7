/**
 * Task output as the client shows it: whole lines, each prefixed with
 * `[stdout:<engine>] ` (or stderr), printed, handed to a callback, or dropped.
 */

/** 'none' and 'drop' are the same: task output stays on the handles only. */
export type OutputMode = 'print' | 'none' | 'drop' | ((line: string, stream: 'stdout' | 'stderr') => void);

type StreamName = 'stdout' | 'stderr';

export class OutputPrinter {
  /** the unfinished last line of each task's stream */
  private partial = new Map<string, string>();

  constructor(private readonly mode: OutputMode = 'print') {}

  /** A chunk of a task's output: complete lines are emitted now, the rest waits for its newline. */
  write(taskId: string, name: StreamName, text: string, engineId: number | null): void {
    if (this.mode === 'none' || this.mode === 'drop') return;
    const key = `${taskId}\u0000${name}`;
    const pending = (this.partial.get(key) ?? '') + text;
    const lines = pending.split('\n');
    const rest = lines.pop()!;
    if (rest) this.partial.set(key, rest);
    else this.partial.delete(key);
    const prefix = `[${name}:${engineId ?? '?'}] `;
    for (const line of lines) this.emit(prefix + line, name);
  }

  /** The task ended: emit its unfinished lines. */
  end(taskId: string, engineId: number | null): void {
    for (const name of ['stdout', 'stderr'] as const) {
      const key = `${taskId}\u0000${name}`;
      const rest = this.partial.get(key);
      if (rest === undefined) continue;
      this.partial.delete(key);
      this.emit(`[${name}:${engineId ?? '?'}] ${rest}`, name);
    }
  }

  private emit(line: string, name: StreamName): void {
    const mode = this.mode;
    if (typeof mode === 'function') mode(line, name);
    else if (mode === 'print') (name === 'stdout' ? process.stdout : process.stderr).write(`${line}\n`);
  }
}
