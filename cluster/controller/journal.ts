/**
 * Append-only journal of submissions, results and engine ids (JSON lines).
 * Writes are coalesced (group commit): the lines appended within
 * `coalesceMs` of the first go out in one write() followed by one
 * fdatasync(), off the event loop. At ten thousand tasks per second that is
 * one sync per few thousand records; for one task at a time it is one sync
 * per several round trips instead of two per task, whose I/O and wake-ups
 * otherwise compete with the engines for the CPU. A controller killed inside
 * that window loses those lines; clients resubmit tasks the resumed controller
 * does not know and engines resend their recent results, so nothing is lost.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface JournalReplay {
  records: Record<string, any>[];
  /** lines that could not be parsed (a torn last line after a crash is normal) */
  skipped: { line: number; text: string }[];
}

/** Default group-commit window (ms). */
export const DEFAULT_COALESCE_MS = 5;

export class Journal {
  private fd: number;
  /** records not yet written; serialised when written, off the message path */
  private pending: (string | Record<string, unknown>)[] = [];
  private waiters: (() => void)[] = [];
  private writing = false;
  private scheduled = false;
  private readonly coalesceMs: number;
  private closed = false;
  /** the chunk being written asynchronously; closeSync rewrites it (replay tolerates duplicate records) */
  private inflight: Buffer | null = null;
  records = 0;
  bytes = 0;
  compactions = 0;
  /** the size past which the journal is compacted next */
  private compactAt = Infinity;
  private readonly compactMinBytes: number;
  private compacting = false;
  /** the state as records, or null when it cannot be taken now (retried after the next write) */
  private snapshot: (() => Record<string, unknown>[] | null) | null = null;

  constructor(
    readonly file: string,
    opts: { truncate?: boolean; coalesceMs?: number; compactMinBytes?: number } = {},
    private readonly onError: (err: Error) => void = () => {},
  ) {
    this.coalesceMs = opts.coalesceMs ?? DEFAULT_COALESCE_MS;
    this.fd = fs.openSync(file, opts.truncate ? 'w' : 'a', 0o600);
    this.bytes = fs.fstatSync(this.fd).size;
    this.compactMinBytes = opts.compactMinBytes ?? Infinity;
  }

  /**
   * Compact from now on: once the journal is past compactMinBytes and twice its
   * size after the last compaction, it is rewritten as `snapshot()` (the live
   * state: what --resume needs, nothing it replaced) into a temporary file that
   * is fsync'd and renamed over the journal. Records appended meanwhile follow
   * in the new file (a record both in the snapshot and after it is harmless).
   */
  compactWith(snapshot: () => Record<string, unknown>[] | null): void {
    this.snapshot = snapshot;
    this.compactAt = Math.max(this.compactMinBytes, 2 * this.bytes);
  }

  private async compact(): Promise<void> {
    const records = this.snapshot!();
    if (!records) {
      if (this.pending.length > 0) this.schedule();
      return;
    }
    this.compacting = true;
    const tmp = `${this.file}.compacting`;
    try {
      const fd = fs.openSync(tmp, 'w', 0o600);
      try {
        // in slices, so no single string holds the whole state
        for (let i = 0; i < records.length; i += COMPACT_SLICE) {
          await writeAll(fd, Buffer.from(records.slice(i, i + COMPACT_SLICE).map(toLine).join('\n') + '\n', 'utf8'));
        }
        await new Promise<void>((res, rej) => fs.fdatasync(fd, (err) => (err ? rej(err) : res())));
      } finally {
        fs.closeSync(fd);
      }
      if (this.closed) return fs.rmSync(tmp, { force: true });
      fs.renameSync(tmp, this.file);
      syncDir(this.file);
      fs.closeSync(this.fd);
      this.fd = fs.openSync(this.file, 'a', 0o600);
      this.bytes = fs.fstatSync(this.fd).size;
      this.compactions += 1;
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      this.onError(new Error(`journal ${this.file}: compaction failed: ${(err as Error).message}`));
    } finally {
      this.compacting = false;
      this.compactAt = Math.max(this.compactMinBytes, 2 * this.bytes);
    }
    if (this.pending.length > 0) this.schedule();
  }

  /** Read every record of an existing journal (missing file → no records). */
  static replay(file: string): JournalReplay {
    if (!fs.existsSync(file)) return { records: [], skipped: [] };
    const text = fs.readFileSync(file, 'utf8');
    const records: Record<string, any>[] = [];
    const skipped: { line: number; text: string }[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      if (line.length === 0) continue;
      try {
        records.push(JSON.parse(line));
      } catch {
        skipped.push({ line: i + 1, text: line.slice(0, 200) });
      }
    }
    return { records, skipped };
  }

  append(record: Record<string, unknown>): void {
    if (this.closed) return;
    this.pending.push(record);
    this.records += 1;
    this.schedule();
  }

  /** Resolves once everything appended so far is on disk. */
  durable(): Promise<void> {
    if (this.pending.length === 0 && !this.writing) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.writing || this.compacting) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      void this.writeLoop();
    }, this.coalesceMs);
  }

  private async writeLoop(): Promise<void> {
    if (this.writing || this.compacting) return;
    this.writing = true;
    let lines: string[] = [];
    let waiters: (() => void)[] = [];
    try {
      while (this.pending.length > 0 && !this.closed) {
        lines = this.pending.map(toLine);
        this.pending = [];
        waiters = this.waiters;
        this.waiters = [];
        const chunk = Buffer.from(lines.join('\n') + '\n', 'utf8');
        this.inflight = chunk;
        await writeAll(this.fd, chunk);
        await new Promise<void>((res, rej) => fs.fdatasync(this.fd, (err) => (err ? rej(err) : res())));
        this.inflight = null;
        this.bytes += chunk.length;
        for (const w of waiters) w();
        waiters = [];
      }
    } catch (err) {
      if (this.closed) return;
      this.inflight = null;
      this.onError(new Error(`journal ${this.file}: write failed: ${(err as Error).message}`));
      // keep the lines for the next attempt (a leading empty line isolates a torn partial
      // write; replay tolerates the duplicates) and never leave a submitter hanging
      this.pending = ['', ...lines, ...this.pending];
      for (const w of waiters) w();
      for (const w of this.waiters) w();
      this.waiters = [];
      return;
    } finally {
      this.writing = false;
    }
    if (this.snapshot && this.bytes > this.compactAt && !this.closed) void this.compact();
    else if (this.pending.length > 0 && !this.closed) this.schedule();
    else {
      const rest = this.waiters;
      this.waiters = [];
      for (const w of rest) w();
    }
  }

  /** Write out what is pending synchronously and close (used on exit). */
  closeSync(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.compacting) {
      // the file at the path is complete (old or compacted); what is pending goes after it
      fs.closeSync(this.fd);
      this.fd = fs.openSync(this.file, 'a', 0o600);
    }
    try {
      // a leading newline isolates a possibly torn partial write of the same chunk
      if (this.inflight) fs.writeSync(this.fd, Buffer.concat([Buffer.from('\n'), this.inflight]));
      if (this.pending.length) fs.writeSync(this.fd, this.pending.map(toLine).join('\n') + '\n');
      this.pending = [];
      this.inflight = null;
      fs.fdatasyncSync(this.fd);
    } finally {
      fs.closeSync(this.fd);
      for (const w of this.waiters) w();
      this.waiters = [];
    }
  }
}

/** Records per write while compacting. */
const COMPACT_SLICE = 10_000;

/** fsync the directory so a rename in it survives a crash. */
function syncDir(file: string): void {
  const fd = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

function writeAll(fd: number, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (offset: number) => {
      fs.write(fd, data, offset, data.length - offset, null, (err, written) => {
        if (err) return reject(err);
        if (offset + written < data.length) step(offset + written);
        else resolve();
      });
    };
    step(0);
  });
}

function toLine(record: string | Record<string, unknown>): string {
  if (typeof record === 'string') return record;
  try {
    return JSON.stringify(record);
  } catch (err) {
    return JSON.stringify({ r: 'unserialisable', error: (err as Error).message });
  }
}
