/**
 * What a WebSocket connection to the controller may do before it has
 * authenticated (../transport/challenge-auth.ts has the numbers): send at most
 * PRE_AUTH_BYTES, counted on the TCP socket so a frame that claims to be big
 * is cut off after its first few KiB instead of being buffered; authenticate
 * within HANDSHAKE_TIMEOUT_MS, which also ends a half-sent frame; and be one
 * of at most MAX_UNAUTHENTICATED_PER_ADDRESS such connections from its address
 * (MAX_UNAUTHENTICATED in all), beyond which the oldest is closed.
 */
import type * as net from 'node:net';
import { CLOSE_CODES } from '../protocol';
import { HANDSHAKE_TIMEOUT_MS, MAX_UNAUTHENTICATED, MAX_UNAUTHENTICATED_PER_ADDRESS, PRE_AUTH_BYTES } from '../transport/challenge-auth';
import type { MessageSocket } from '../transport/socket';

export interface AdmissionLimits {
  preAuthBytes: number;
  deadlineMs: number;
  perAddress: number;
  total: number;
}

export const DEFAULT_ADMISSION: AdmissionLimits = {
  preAuthBytes: PRE_AUTH_BYTES,
  deadlineMs: HANDSHAKE_TIMEOUT_MS,
  perAddress: MAX_UNAUTHENTICATED_PER_ADDRESS,
  total: MAX_UNAUTHENTICATED,
};

/** One connection that has not authenticated yet. */
export interface Pending {
  readonly ws: MessageSocket;
  readonly host: string;
  readonly address: string;
  bytes: number;
  /** admission order */
  readonly order: number;
  timer: NodeJS.Timeout | null;
  /** closed for breaking a rule: anything more it sends is ignored */
  refused: boolean;
  raw: net.Socket | null;
  onRaw: ((chunk: Buffer) => void) | null;
}

export class Admission {
  /** in arrival order: the first of a host's list is its oldest */
  private readonly byHost = new Map<string, Pending[]>();
  private count = 0;
  private admitted = 0;
  /** connections closed before they authenticated, by why (bytes, deadline, evicted, origin, and the first frame's ProtocolError reason) */
  readonly refusals: Record<string, number> = {};

  constructor(
    private readonly limits: AdmissionLimits,
    /** log a refusal (rate-limited by the owner) */
    private readonly refuse: (address: string, why: string) => void,
  ) {}

  get unauthenticated(): number {
    return this.count;
  }

  /** A new connection from `host` (`address` = host:port names it); `raw` is its TCP socket when it has one. */
  admit(ws: MessageSocket, host: string, address: string, raw: net.Socket | null): Pending {
    const p: Pending = { ws, host, address, bytes: 0, order: this.admitted++, timer: null, refused: false, raw, onRaw: null };
    const list = this.byHost.get(host) ?? [];
    this.byHost.set(host, list);
    if (list.length >= this.limits.perAddress) this.evict(list[0], `more than ${this.limits.perAddress} unauthenticated connections from ${host}`);
    if (this.count >= this.limits.total) this.evictOldest();
    list.push(p);
    this.count += 1;
    p.timer = setTimeout(() => this.close(p, 'deadline', `did not authenticate within ${this.limits.deadlineMs / 1000} s`), this.limits.deadlineMs);
    p.timer.unref();
    if (raw) {
      p.onRaw = (chunk) => {
        p.bytes += chunk.length;
        if (p.bytes > this.limits.preAuthBytes) {
          this.close(p, 'bytes', `sent more than ${this.limits.preAuthBytes} bytes before authenticating`);
          raw.destroy();
        }
      };
      raw.on('data', p.onRaw);
    }
    return p;
  }

  /** The connection authenticated, or closed: it no longer counts. */
  release(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    p.timer = null;
    if (p.raw && p.onRaw) p.raw.off('data', p.onRaw);
    p.onRaw = null;
    const list = this.byHost.get(p.host);
    const i = list ? list.indexOf(p) : -1;
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.byHost.delete(p.host);
    this.count -= 1;
  }

  private evictOldest(): void {
    let oldest: Pending | null = null;
    for (const list of this.byHost.values()) if (!oldest || list[0].order < oldest.order) oldest = list[0];
    if (oldest) this.evict(oldest, `more than ${this.limits.total} unauthenticated connections`);
  }

  private evict(p: Pending, why: string): void {
    this.close(p, 'evicted', why);
  }

  /** Count a connection refused before it was admitted (e.g. a browser Origin). */
  countRefusal(kind: string): void {
    this.refusals[kind] = (this.refusals[kind] ?? 0) + 1;
  }

  /** Close a connection that broke a rule (`kind` counts it): once, logged through `refuse`. */
  close(p: Pending, kind: string, why: string, code: number = CLOSE_CODES.unauthenticated): void {
    if (p.refused) return;
    p.refused = true;
    this.countRefusal(kind);
    this.release(p);
    this.refuse(p.address, why);
    try {
      p.ws.close(code, why.slice(0, 120));
    } catch {
      // already closing
    }
    // The close frame goes out, then the TCP connection ends: a peer that does not answer the close handshake is not waited for.
    p.raw?.end();
    setTimeout(() => p.ws.terminate(), 1000).unref();
  }
}
