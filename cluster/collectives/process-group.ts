/**
 * A formed process group: one authenticated link to every other rank (a full
 * mesh, so every rank notices at once when any rank dies), the collectives
 * run one at a time in call order, and the first failure of any link fails
 * the pending collective and every later one with an error naming the rank.
 */
import { performance } from 'node:perf_hooks';
import { meshAllgather, meshAllgatherJson } from './allgather';
import { chainBroadcast } from './broadcast';
import { COLLECTIVE_CODE, FRAME_KIND } from './frame';
import { describeMember, type MemberInfo } from './link';
import { ringAllreduce, ScratchSpace, type RingContext } from './ring-allreduce';
import type { TcpLink } from './tcp-link';
import type { AllreduceOptions, CollectiveStats, ProcessGroup } from './types';

/**
 * Elements per chunk on the wire: 256 Ki floats (1 MiB). Measured with
 * bench/allreduce.ts at 18 MB, 2 ranks on loopback: see docs/collectives.md.
 */
export const DEFAULT_CHUNK_ELEMENTS = 256 * 1024;

/** A collective still waiting after this long is logged with the ranks it waits for (Horovod's stall check warns after 60 s too). */
export const DEFAULT_STALL_WARNING_MS = 60_000;

export interface GroupTuning {
  chunkElements?: number;
  log?: (line: string) => void;
  /** log a waiting collective after this long, and again each time this long passes (default 60 s) */
  stallWarningMs?: number;
  /** fail the group when one collective takes longer than this (default: never; the heartbeat still finds dead ranks) */
  collectiveTimeoutMs?: number;
}

export class LinkedProcessGroup implements ProcessGroup {
  private calls = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private failure: Error | null = null;
  private closed = false;
  private readonly failed: Promise<never>;
  private rejectFailed!: (err: Error) => void;
  private commMs = 0;
  private completed = 0;
  private readonly ring: RingContext;
  private fusion = new Float32Array(0);

  constructor(
    readonly groupId: string,
    readonly rank: number,
    readonly size: number,
    readonly members: MemberInfo[],
    /** one link per rank (null for this rank); point-to-point.ts sends on them directly */
    readonly links: (TcpLink | null)[],
    private readonly tuning: GroupTuning = {},
  ) {
    this.failed = new Promise<never>((_, reject) => (this.rejectFailed = reject));
    this.failed.catch(() => undefined);
    this.ring = { rank, size, links, chunkElements: tuning.chunkElements ?? DEFAULT_CHUNK_ELEMENTS, scratch: new ScratchSpace() };
    this.idle();
  }

  get stats(): CollectiveStats {
    let bytesSent = 0;
    let bytesReceived = 0;
    for (const l of this.links) {
      bytesSent += l?.bytesSent ?? 0;
      bytesReceived += l?.bytesReceived ?? 0;
    }
    return { bytesSent, bytesReceived, commMs: this.commMs, calls: this.completed };
  }

  /** rejects with the group's error once it fails or closes (point-to-point receives race it) */
  get whenFailed(): Promise<never> {
    return this.failed;
  }

  /** the error that broke the group, or null */
  get error(): Error | null {
    return this.failure;
  }

  /**
   * A link failed (peer died, silent, closed, aborted, protocol): the group
   * fails, and tells the others why. A peer that closed in good order while
   * nothing waited for it only fails the collectives that use it later (the
   * link keeps the error), so ranks may close as soon as their own part is done.
   */
  onLinkFailure(err: Error, how: string, waiting = true): void {
    if (this.failure || this.closed) return;
    if (how === 'closed' && !waiting) return;
    this.failure = new Error(`group ${this.groupId} rank ${this.rank}: ${err.message}`);
    this.rejectFailed(this.failure);
    if (how !== 'closed') {
      for (const link of this.links) {
        if (!link || link.error) continue;
        link.sendJson(FRAME_KIND.abort, { reason: err.message }).catch(() => undefined).finally(() => link.destroy());
      }
    }
  }

  allreduce(data: Float32Array, opts: AllreduceOptions = {}): Promise<Float32Array> {
    checkFloat32(data, 'allreduce');
    const { op, compression } = checkReduceOptions(opts);
    return this.run('allreduce', async (call) => {
      await ringAllreduce(this.ring, call, data, op, compression);
      return data;
    });
  }

  allreduceMany(arrays: Float32Array[], opts: AllreduceOptions = {}): Promise<Float32Array[]> {
    if (!Array.isArray(arrays)) throw new TypeError(`allreduceMany expects an array of Float32Array, got ${typeof arrays}`);
    arrays.forEach((a, i) => checkFloat32(a, `allreduceMany: array ${i}`));
    const { op, compression } = checkReduceOptions(opts);
    return this.run('allreduce', async (call) => {
      let total = 0;
      for (const a of arrays) total += a.length;
      // One fused buffer on the wire (and one length check for all the arrays), reused from call to call.
      if (this.fusion.length < total) this.fusion = new Float32Array(total);
      const fused = this.fusion.subarray(0, total);
      let at = 0;
      for (const a of arrays) {
        fused.set(a, at);
        at += a.length;
      }
      await ringAllreduce(this.ring, call, fused, op, compression);
      at = 0;
      for (const a of arrays) {
        a.set(fused.subarray(at, at + a.length));
        at += a.length;
      }
      return arrays;
    });
  }

  broadcast(data: Float32Array, root = 0): Promise<Float32Array> {
    checkFloat32(data, 'broadcast');
    if (!Number.isInteger(root) || root < 0 || root >= this.size) throw new RangeError(`broadcast: root ${root} is not a rank of this group (0..${this.size - 1})`);
    return this.run('broadcast', async (call) => {
      await chainBroadcast(this.ring, call, data, root);
      return data;
    });
  }

  allgather(data: Float32Array): Promise<Float32Array[]> {
    checkFloat32(data, 'allgather');
    return this.run('allgather', (call) => meshAllgather(this.ring, call, data));
  }

  allgatherJson<T>(value: T): Promise<T[]> {
    JSON.stringify(value); // throws here, naming the problem, for a value JSON cannot carry
    return this.run('allgatherJson', (call) => meshAllgatherJson(this.ring, call, value));
  }

  barrier(): Promise<void> {
    return this.run('barrier', async (call) => {
      await meshAllgatherJson(this.ring, call, null, COLLECTIVE_CODE.barrier);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue.catch(() => undefined);
    this.closed = true;
    this.busy(); // the caller awaits the orderly close: hold the process until the peers have it
    this.rejectFailed(new Error(`group ${this.groupId} rank ${this.rank}: closed`)); // point-to-point receives still waiting end
    await Promise.all(this.links.map((l) => l?.close(`rank ${this.rank} closed the group`)));
  }

  private run<T>(name: string, body: (call: number) => Promise<T>): Promise<T> {
    const call = ++this.calls;
    const result = this.queue.then(() => this.execute(name, call, body));
    this.queue = result.catch(() => undefined);
    return result;
  }

  private async execute<T>(name: string, call: number, body: (call: number) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error(`group ${this.groupId} rank ${this.rank}: ${name} after close()`);
    if (this.failure) throw this.failure;
    const t0 = performance.now();
    this.busy();
    const watch = this.watchStall(name, call, t0);
    try {
      const out = await Promise.race([body(call), this.failed]);
      this.completed++;
      return out;
    } catch (err) {
      if (this.failure) throw this.failure;
      // A local error (bad input found late, mismatch): the other ranks must not wait for this one.
      this.onLinkFailure(err as Error, 'protocol');
      throw this.failure ?? err;
    } finally {
      clearInterval(watch);
      this.commMs += performance.now() - t0;
      this.idle();
    }
  }

  /** who this rank still waits for, e.g. "rank 1 (pid 42 on nid002, engine 3)" */
  private waitingFor(): string {
    const who = this.links.filter((l) => l?.waiting).map((l) => describeMember(l!.peer));
    return who.length ? who.join(', ') : 'no rank (its own sends are still draining)';
  }

  /** log a collective that waits long (and fail it after collectiveTimeoutMs when set) */
  private watchStall(name: string, call: number, t0: number): NodeJS.Timeout {
    const warnMs = this.tuning.stallWarningMs ?? DEFAULT_STALL_WARNING_MS;
    const limitMs = this.tuning.collectiveTimeoutMs;
    const log = this.tuning.log ?? ((line: string) => console.error(`[hpcdl group] ${line}`));
    const every = Math.max(100, Math.min(warnMs, limitMs ?? Infinity));
    let warned = 0;
    const timer = setInterval(() => {
      const waited = performance.now() - t0;
      if (limitMs !== undefined && waited >= limitMs) {
        this.onLinkFailure(new Error(`${name} (call ${call}) timed out after ${(waited / 1000).toFixed(1)} s (collectiveTimeoutMs) waiting for ${this.waitingFor()}`), 'protocol');
        return;
      }
      if (waited >= (warned + 1) * warnMs) {
        warned++;
        log(`group ${this.groupId} rank ${this.rank}: ${name} (call ${call}) has waited ${(waited / 1000).toFixed(0)} s for ${this.waitingFor()}; does every rank make the same collective calls?`);
      }
    }, every);
    timer.unref();
    return timer;
  }

  /** While a collective runs, the sockets keep the process alive; an idle group never does. */
  private busy(): void {
    for (const l of this.links) l?.socket.ref();
  }

  private idle(): void {
    for (const l of this.links) l?.socket.unref();
  }
}

function checkFloat32(data: unknown, what: string): void {
  if (!(data instanceof Float32Array)) throw new TypeError(`${what} expects a Float32Array, got ${data === null ? 'null' : (data as object)?.constructor?.name ?? typeof data}`);
}

function checkReduceOptions(opts: AllreduceOptions): Required<AllreduceOptions> {
  const op = opts.op ?? 'sum';
  const compression = opts.compression ?? 'none';
  if (op !== 'sum' && op !== 'mean') throw new RangeError(`allreduce: op must be 'sum' or 'mean', got ${JSON.stringify(op)}`);
  if (compression !== 'none' && compression !== 'fp16') throw new RangeError(`allreduce: compression must be 'none' or 'fp16', got ${JSON.stringify(compression)}`);
  return { op, compression };
}
