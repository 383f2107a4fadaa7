/**
 * A rank-to-rank link on one TCP connection: frames (./frame.ts) back to back,
 * payload bytes copied straight from the socket into the buffer the collective
 * expects them in, sequence numbers checked, heartbeat and liveness.
 */
import type * as net from 'node:net';
import { COLLECTIVE_CODE, COLLECTIVE_NAME, FRAME_KIND, HEADER_BYTES, frameKey, readHeader, writeHeader, type FrameHeader } from './frame';
import { describeMember, type Expectation, type Link, type MemberInfo } from './link';
import type { ChunkSink } from './user-buffer-socket';

export interface LinkTimers {
  /** send a ping when nothing else was sent for this long */
  heartbeatIntervalMs: number;
  /** fail the link when nothing arrived for this long */
  heartbeatTimeoutMs: number;
}

export interface TcpLinkEvents {
  /**
   * the link is gone: peer died, went silent, closed, or broke the protocol.
   * Called once; `waiting` tells whether a collective was waiting for frames from the peer.
   */
  onFailure(err: Error, how: 'died' | 'silent' | 'closed' | 'aborted' | 'protocol', waiting: boolean): void;
}

interface Incoming {
  header: FrameHeader;
  target: Uint8Array;
  filled: number;
  expectation: Expectation | null;
}

const EMPTY = new Uint8Array(0);

export class TcpLink implements Link {
  peer: MemberInfo;
  bytesSent = 0;
  bytesReceived = 0;
  private sendSeq = 0;
  private recvSeq = 0;
  private authenticatedPeer = false;
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFilled = 0;
  private incoming: Incoming | null = null;
  private readonly expected = new Map<number, Expectation>();
  private readonly stashed = new Map<number, { header: FrameHeader; payload: Uint8Array }>();
  private failed: Error | null = null;
  private peerClosed = false;
  private lastReceived = Date.now();
  private lastSent = Date.now();
  private lastTick = Date.now();
  private heartbeat: NodeJS.Timeout | null = null;
  private closingSelf = false;
  /** set by the dialer once the acceptor's proof checked out: its "ok" opens the link for data at once */
  expectOk = false;
  /** receives the handshake frames (./link-auth.ts) */
  onHello: ((value: unknown) => void) | null = null;

  constructor(
    readonly socket: net.Socket,
    /** where the socket's reads arrive (./user-buffer-socket.ts) */
    sink: ChunkSink,
    /** who we think the peer is, until the handshake tells (for messages) */
    provisional: MemberInfo,
    private readonly events: TcpLinkEvents,
    private readonly timers: LinkTimers,
  ) {
    this.peer = provisional;
    socket.setNoDelay(true);
    sink.onChunk = (chunk) => this.onData(chunk);
    socket.on('error', (err) => this.fail(new Error(`link to ${this.who()} failed: ${err.message}`), 'died'));
    socket.on('close', () => {
      if (this.closingSelf) return;
      if (this.peerClosed) this.fail(new Error(`${this.who()} has closed the group`), 'closed');
      else this.fail(new Error(`${this.who()} died: its connection closed without a close frame (process killed or crashed?)`), 'died');
    });
    this.heartbeat = setInterval(() => this.tick(), timers.heartbeatIntervalMs);
    this.heartbeat.unref();
  }

  who(): string {
    return this.peer.pid ? describeMember(this.peer) : `rank ${this.peer.rank} at ${this.peer.address}`;
  }

  /** the handshake succeeded: data frames are accepted from now on */
  authenticated(peer: MemberInfo): void {
    this.peer = peer;
    this.authenticatedPeer = true;
  }

  get error(): Error | null {
    return this.failed;
  }

  send(kind: number, collective: number, call: number, sub: number, aux: number, payload: Uint8Array = EMPTY, tag = 0): Promise<void> {
    if (this.failed) return Promise.reject(this.failed);
    const header = Buffer.allocUnsafe(HEADER_BYTES);
    writeHeader(header, { kind, collective, tag, seq: this.sendSeq++, call, sub, length: payload.byteLength, aux });
    this.lastSent = Date.now();
    this.bytesSent += HEADER_BYTES + payload.byteLength;
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(this.failed ?? err) : resolve());
      if (payload.byteLength === 0) {
        this.socket.write(header, done);
        return;
      }
      this.socket.cork();
      this.socket.write(header);
      this.socket.write(payload, done);
      this.socket.uncork();
    });
  }

  sendJson(kind: number, value: unknown, collective = 0, call = 0, sub = 0): Promise<void> {
    return this.send(kind, collective, call, sub, 0, Buffer.from(JSON.stringify(value), 'utf8'));
  }

  expect(call: number, sub: number, expectation: Expectation): void {
    if (this.failed) throw this.failed;
    const key = frameKey(call, sub);
    for (const [k, stale] of this.stashed) {
      if (stale.header.call < call && k !== key) {
        const name = COLLECTIVE_NAME[stale.header.collective] ?? stale.header.collective;
        const err = new Error(`${this.who()} sent ${name} data for call ${stale.header.call} that this rank never expected; the ranks disagree on the calls they make (or on a broadcast root)`);
        this.fail(err, 'protocol');
        throw err;
      }
    }
    const early = this.stashed.get(key);
    if (early) {
      this.stashed.delete(key);
      if (!this.matches(early.header, expectation)) return;
      if (expectation.dest && expectation.dest.length !== early.payload.length) {
        this.fail(new Error(`link to ${this.who()}: ${early.payload.length}-byte payload for a ${expectation.dest.length}-byte receive (call ${call}, sub ${sub})`), 'protocol');
        return;
      }
      if (expectation.dest) {
        expectation.dest.set(early.payload);
        expectation.done(expectation.dest, early.header);
      } else expectation.done(early.payload, early.header);
      return;
    }
    this.expected.set(key, expectation);
  }

  async close(reason: string): Promise<void> {
    if (this.failed || this.socket.destroyed) return;
    this.closingSelf = true;
    this.stopHeartbeat();
    await this.sendJson(FRAME_KIND.close, { reason }).catch(() => undefined);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 2000);
      timer.unref();
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }

  destroy(): void {
    this.closingSelf = true;
    this.stopHeartbeat();
    this.failed ??= new Error(`link to ${this.who()} was closed by this rank`);
    this.socket.destroy();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  private tick(): void {
    const now = Date.now();
    const late = now - this.lastTick > 2 * this.timers.heartbeatIntervalMs;
    this.lastTick = now;
    // A tick that comes late means this process's own event loop was blocked:
    // the socket data that arrived meanwhile has not been read yet, so the
    // peer's silence cannot be judged on this tick.
    if (late) return;
    if (now - this.lastReceived > this.timers.heartbeatTimeoutMs) {
      this.fail(
        new Error(`${this.who()} is silent: nothing received for ${((now - this.lastReceived) / 1000).toFixed(1)} s (heartbeat timeout ${this.timers.heartbeatTimeoutMs / 1000} s; process stopped, hung or unreachable?)`),
        'silent',
      );
      return;
    }
    if (now - this.lastSent >= this.timers.heartbeatIntervalMs) this.send(FRAME_KIND.ping, 0, 0, 0, 0).catch(() => undefined);
  }

  fail(err: Error, how: 'died' | 'silent' | 'closed' | 'aborted' | 'protocol'): void {
    if (this.failed) return;
    this.failed = err;
    const waiting = this.expected.size > 0 || this.incoming !== null;
    this.stopHeartbeat();
    this.expected.clear();
    this.stashed.clear();
    this.socket.destroy();
    this.events.onFailure(err, how, waiting);
  }

  private onData(chunk: Buffer): void {
    this.lastReceived = Date.now();
    this.bytesReceived += chunk.length;
    let pos = 0;
    while (pos < chunk.length && !this.failed) {
      if (this.incoming) {
        const inc = this.incoming;
        const n = Math.min(inc.target.length - inc.filled, chunk.length - pos);
        inc.target.set(chunk.subarray(pos, pos + n), inc.filled);
        inc.filled += n;
        pos += n;
        if (inc.filled === inc.target.length) {
          this.incoming = null;
          try {
            this.deliver(inc);
          } catch (err) {
            this.fail(err as Error, 'protocol');
          }
        }
        continue;
      }
      const n = Math.min(HEADER_BYTES - this.headerFilled, chunk.length - pos);
      chunk.copy(this.header, this.headerFilled, pos, pos + n);
      this.headerFilled += n;
      pos += n;
      if (this.headerFilled < HEADER_BYTES) break;
      this.headerFilled = 0;
      const header = readHeader(this.header, 0);
      try {
        if (!this.begin(header)) return;
      } catch (err) {
        this.fail(err as Error, 'protocol');
        return;
      }
    }
  }

  /** A header arrived: pick where its payload goes. False when the link failed. */
  private begin(header: FrameHeader): boolean {
    if (header.seq !== this.recvSeq) {
      this.fail(new Error(`link to ${this.who()}: frame ${header.seq} arrived where ${this.recvSeq} was next (lost, replayed or corrupted stream)`), 'protocol');
      return false;
    }
    this.recvSeq = (this.recvSeq + 1) >>> 0;
    const known = Object.values(FRAME_KIND) as number[];
    if (!known.includes(header.kind)) {
      this.fail(new Error(`link to ${this.who()}: unknown frame kind ${header.kind} (not an hpcdl group link, or another version)`), 'protocol');
      return false;
    }
    if (!this.authenticatedPeer && header.kind !== FRAME_KIND.hello) {
      this.fail(new Error(`link to ${this.who()}: ${header.kind} frame before the handshake finished`), 'protocol');
      return false;
    }
    let expectation: Expectation | null = null;
    let target: Uint8Array;
    if (header.kind === FRAME_KIND.data || header.kind === FRAME_KIND.json) {
      const key = frameKey(header.call, header.sub);
      expectation = this.expected.get(key) ?? null;
      if (expectation) {
        this.expected.delete(key);
        if (!this.matches(header, expectation)) return false;
      }
      target = expectation?.dest ?? new Uint8Array(header.length);
    } else target = header.length > 0 ? new Uint8Array(header.length) : EMPTY;
    if (expectation?.dest && expectation.dest.length !== header.length) {
      this.fail(new Error(`link to ${this.who()}: ${header.length}-byte payload for a ${expectation.dest.length}-byte receive (call ${header.call}, sub ${header.sub})`), 'protocol');
      return false;
    }
    const inc: Incoming = { header, target, filled: 0, expectation };
    if (header.length === 0) this.deliver(inc);
    else this.incoming = inc;
    return !this.failed;
  }

  /** The frame is what this rank expects (same collective, same length), else the group fails naming both. */
  private matches(header: FrameHeader, e: Expectation): boolean {
    if (header.collective === e.collective && (e.aux < 0 || header.aux === e.aux) && (e.tag === undefined || header.tag === e.tag)) return true;
    const root = (tag: number | undefined) => (header.collective === COLLECTIVE_CODE.broadcast && tag !== undefined ? ` from root ${tag}` : '');
    const theirs = `${COLLECTIVE_NAME[header.collective] ?? header.collective}(${header.aux} elements)${root(header.tag)}`;
    const ours = `${COLLECTIVE_NAME[e.collective] ?? e.collective}(${e.aux < 0 ? 'any' : e.aux} elements)${root(e.tag)}`;
    this.fail(new Error(`collective mismatch in call ${header.call}: ${this.who()} runs ${theirs} while this rank runs ${ours}; every rank must make the same collective calls with the same lengths`), 'protocol');
    return false;
  }

  private deliver(inc: Incoming): void {
    const { header } = inc;
    switch (header.kind) {
      case FRAME_KIND.data:
      case FRAME_KIND.json: {
        if (inc.expectation) {
          inc.expectation.done(inc.target, header);
          return;
        }
        // The receive may have been posted while this frame's payload was still arriving.
        const key = frameKey(header.call, header.sub);
        const late = this.expected.get(key);
        if (!late) {
          this.stashed.set(key, { header, payload: inc.target });
          return;
        }
        this.expected.delete(key);
        if (!this.matches(header, late)) return;
        if (late.dest) {
          if (late.dest.length !== inc.target.length) {
            this.fail(new Error(`link to ${this.who()}: ${inc.target.length}-byte payload for a ${late.dest.length}-byte receive (call ${header.call}, sub ${header.sub})`), 'protocol');
            return;
          }
          late.dest.set(inc.target);
          late.done(late.dest, header);
        } else late.done(inc.target, header);
        return;
      }
      case FRAME_KIND.hello: {
        const value = parseJson(inc.target, `handshake from ${this.who()}`);
        // Data may follow "ok" in the same read, before the handshake code runs again.
        if (this.expectOk && (value as { step?: unknown })?.step === 'ok') this.authenticatedPeer = true;
        this.onHello?.(value);
        return;
      }
      case FRAME_KIND.ping:
        return;
      case FRAME_KIND.close:
        this.peerClosed = true;
        return;
      case FRAME_KIND.abort: {
        const { reason } = parseJson(inc.target, `abort from ${this.who()}`) as { reason?: string };
        this.fail(new Error(`${this.who()} aborted the group: ${reason ?? 'no reason given'}`), 'aborted');
        return;
      }
    }
  }
}

export function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw new Error(`${what} is not valid JSON: ${(err as Error).message}`);
  }
}
