/**
 * Where finished tasks' result bytes live: the controller's memory is bounded
 * in bytes (--result-memory-mb), not only in task count. A result whose
 * buffers reach SPILL_MIN_BYTES is written to its own file under
 * `<profile>/clusters/<id>.results/` (raw bytes, not base64) and its journal
 * record names that file; once on disk its buffers may leave memory, oldest
 * first, whenever the results held exceed the bound, and they are read back
 * when a client asks for them. Smaller results stay in memory and in the
 * journal (base64), bounded by --keep-finished.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { StoredResult, Task } from './types';

/** Results with at least this many buffer bytes are spilled: below it a file per result costs more than the bytes. */
export const SPILL_MIN_BYTES = 64 * 1024;

export interface SpillRef {
  file: string;
  lens: number[];
}

export class ResultStore {
  /** bytes of result buffers in memory */
  heldBytes = 0;
  /** results on disk whose buffers are also in memory, oldest first (task id → bytes) */
  private evictable = new Map<string, { result: StoredResult; bytes: number }>();
  /** spill files being written: compaction waits for them */
  inFlight = 0;
  spilledCount = 0;
  evictedCount = 0;

  constructor(
    readonly dir: string,
    private readonly limitBytes: number,
    private readonly log: (line: string) => void,
  ) {}

  /** A fresh cluster id: no spill files of an earlier cluster with this id. */
  clear(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * A task's result was settled: count it, and spill it when large. `durable`
   * runs once the result can be journalled (at once for a small result; for a
   * spilled one after its file is on disk, with the file's reference).
   */
  admit(task: Task, durable: (spill: SpillRef | null) => void): void {
    const result = task.result!;
    const bytes = bufferBytes(result.buffers);
    this.heldBytes += bytes;
    if (bytes < SPILL_MIN_BYTES) {
      durable(null);
      return;
    }
    const ref: SpillRef = { file: spillName(task.id), lens: result.buffers.map((b) => b.byteLength) };
    this.inFlight += 1;
    void this.write(ref.file, result.buffers).then(
      () => {
        this.inFlight -= 1;
        this.spilledCount += 1;
        result.spill = ref;
        if (result.buffers.length > 0) this.evictable.set(task.id, { result, bytes });
        durable(ref);
        this.evict();
      },
      (err: Error) => {
        this.inFlight -= 1;
        this.log(`cannot spill the result of task ${task.id} to ${this.dir}: ${err.message}; it stays in memory and goes to the journal`);
        durable(null);
      },
    );
  }

  /** A result replayed from the journal that names its spill file: its buffers stay on disk until asked for. */
  restore(result: StoredResult, ref: SpillRef): void {
    result.spill = ref;
    result.buffers = [];
    result.evicted = true;
  }

  /** The result's buffers, from memory or from its spill file. */
  buffers(result: StoredResult, done: (buffers: Uint8Array[] | Error) => void): void {
    if (!result.evicted || !result.spill) return done(result.buffers);
    const { file, lens } = result.spill;
    fs.readFile(path.join(this.dir, file), (err, data) => {
      if (err) return done(new Error(`the result's spill file ${file} cannot be read: ${err.message}`));
      const out: Uint8Array[] = [];
      let offset = 0;
      for (const len of lens) {
        out.push(new Uint8Array(data.buffer, data.byteOffset + offset, len));
        offset += len;
      }
      done(out);
    });
  }

  /** The task is forgotten (--keep-finished): its bytes and file go too. */
  forget(task: Task): void {
    const result = task.result;
    if (!result) return;
    this.evictable.delete(task.id);
    if (!result.evicted) this.heldBytes = Math.max(0, this.heldBytes - bufferBytes(result.buffers));
    if (result.spill) fs.rm(path.join(this.dir, result.spill.file), { force: true }, () => undefined);
  }

  /** Drop the buffers of the oldest results already on disk while over the bound. */
  private evict(): void {
    for (const [id, { result, bytes }] of this.evictable) {
      if (this.heldBytes <= this.limitBytes) break;
      this.evictable.delete(id);
      result.buffers = [];
      result.evicted = true;
      this.heldBytes -= bytes;
      this.evictedCount += 1;
    }
  }

  private async write(file: string, buffers: Uint8Array[]): Promise<void> {
    await fs.promises.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const handle = await fs.promises.open(path.join(this.dir, file), 'w', 0o600);
    try {
      await handle.writev(buffers);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}

function bufferBytes(buffers: Uint8Array[]): number {
  let n = 0;
  for (const b of buffers) n += b.byteLength;
  return n;
}

/** A file name for any task id (ids are client-chosen strings). */
function spillName(taskId: string): string {
  return `${createHash('sha256').update(taskId).digest('hex').slice(0, 40)}.bin`;
}
