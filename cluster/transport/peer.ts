/**
 * One connection to another hpcdl process, for every role: the client and the
 * engine to the controller, the test and bench peers, engine-to-engine links.
 * It owns the socket's life (dial by URL or by a function, or wrap a socket a
 * server accepted), the challenge handshake (../protocol/handshake.ts: the
 * dialer answers the acceptor's challenge, then both sign with per-connection
 * keys over sequence numbers), decoding with drop-and-log of bad frames, batching of
 * outgoing messages, optional reconnection with backoff and an optional
 * heartbeat that notices a silent other side. What the messages mean (the
 * handshake, replies, give-up wording) stays with the owner.
 */
import WebSocket from 'ws';
import {
  CLOSE_CODES,
  MAX_MESSAGE_BYTES,
  MessageBatcher,
  ProtocolError,
  acceptAnswer,
  answerChallenge,
  decodeChallenge,
  decodeMessages,
  describeClose,
  encodeChallenge,
  newNonce,
  receivedBytes,
  type SigningKey,
  type Message,
  type Received,
  type WireChannel,
} from '../protocol';
import { Backoff } from './backoff';
import { HANDSHAKE_TIMEOUT_MS, PRE_AUTH_BYTES } from './challenge-auth';
import { droppedLine } from './drop-log';
import { Liveness } from './liveness';
import { SOCKET_STATE, sendMessage, type MessageSocket } from './socket';

/**
 * Messages whose binary buffers add up to this much go alone, after what is
 * queued, instead of inside a batch: a batch is re-encoded into one frame, so
 * a big payload would be copied once more, and an oversized one would fail
 * every message of its batch instead of only itself.
 */
export const SEND_ALONE_BYTES = 1024 * 1024;

const TLS_PIN_MISMATCH = 'HPCDL_TLS_PIN_MISMATCH';

/** A TLS failure no retry can fix: another certificate than the pinned one, or one that does not verify against it. */
function isTlsRefusal(error: Error | null): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code ?? '';
  return code === TLS_PIN_MISMATCH || code === 'DEPTH_ZERO_SELF_SIGNED_CERT' || code === 'SELF_SIGNED_CERT_IN_CHAIN' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' || code === 'ERR_SSL_WRONG_VERSION_NUMBER';
}

export interface PeerReconnect {
  /** give up after the other side has been unreachable this long (ms); read at each close */
  giveUpAfterMs: number | (() => number);
  /** first retry delay (ms, default 200), doubled per failed attempt up to maxDelayMs */
  initialDelayMs?: number;
  /** longest retry delay (ms, default 2000) */
  maxDelayMs?: number;
  /** a pending retry keeps the process alive (an engine); default false (a notebook may exit meanwhile) */
  holdsProcess?: boolean;
}

export interface PeerOptions {
  /** the cluster key (the handshake proves it; frames are then signed with keys derived from it) */
  key: string | Uint8Array;
  /** names the other side in log lines and errors, e.g. "the controller at ws://…" */
  name: string;
  /** how to reach the other side: exactly one of url, dial, socket */
  url?: string;
  dial?: () => MessageSocket;
  /** a socket a server accepted (already open); never re-dialled */
  socket?: MessageSocket;
  /** session of the messages this side batches */
  session?: string;
  /** absent: a close is final */
  reconnect?: PeerReconnect;
  /** prefix of this side's log lines (called per line: it may change, e.g. once an engine id is known) */
  logPrefix?: () => string;
  log?: (line: string) => void;
  /** largest message accepted or sent (bytes, default MAX_MESSAGE_BYTES) */
  maxBytes?: number;
  /** a wss:// url: the certificate pinned in the connection file; no other is accepted */
  tls?: { cert: string; fingerprint: string };
  /** the local address to connect from (a url only; default: the system's choice) */
  localAddress?: string;
}

/** Why the socket closed, as the owner sees it before any retry. */
export interface PeerClose {
  code: number;
  reason: string;
  /** the socket error that preceded the close (e.g. ECONNREFUSED), if any */
  error: Error | null;
  /** one sentence: "cannot reach <name> (<error>)" or describeClose's */
  why: string;
  /** the other side refused this one for good (bad key, protocol version): never retried */
  refused: boolean;
  /** close() was called on this side */
  byUs: boolean;
}

export interface PeerEvents {
  /** the socket is open (each connection): send the handshake here */
  onOpen?(reconnection: boolean): void;
  /** the messages of one received frame, decoded and verified (bad frames are logged and dropped) */
  onMessages(messages: Message[]): void;
  /** every close, before any retry; call close() here to stop retrying */
  onClose?(close: PeerClose): void;
  /** a retry is scheduled in `delayMs` */
  onRetry?(why: string, delayMs: number): void;
  /** unreachable for longer than reconnect.giveUpAfterMs: the peer is closed for good */
  onGiveUp?(why: string, waitedMs: number): void;
}

export interface PeerHeartbeat {
  intervalMs: number;
  /** nothing heard for this long: the socket is terminated (and re-dialled when reconnecting) */
  silentMs: number;
  /** the message sent each interval while open (none: liveness check only) */
  beat?: () => Message;
  /** called before the silent socket is terminated */
  onSilent?(silentForMs: number): void;
}

export class Peer {
  private socket: MessageSocket | null = null;
  private batcher: MessageBatcher | null = null;
  private closed = false;
  private opened = 0;
  private readonly backoff: Backoff;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly liveness = new Liveness();
  private readonly log: (line: string) => void;
  /** the per-connection keys once the handshake is done (null before, and on an in-process socket) */
  private channel: WireChannel | null = null;
  /** the handshake is done (or not needed): messages flow */
  private ready = false;
  /** acceptor side: this connection's challenge nonce */
  private challenge: string | null = null;
  private handshakeTimer: NodeJS.Timeout | null = null;
  /** bytes of every frame received (the wire counter that shows what passes through this peer) */
  bytesReceived = 0;

  constructor(
    private readonly opts: PeerOptions,
    private readonly events: PeerEvents,
  ) {
    const ways = [opts.url, opts.dial, opts.socket].filter((w) => w !== undefined).length;
    if (ways !== 1) throw new Error(`peer ${opts.name}: give exactly one of url, dial, socket (got ${ways})`);
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.backoff = new Backoff(opts.reconnect ?? {});
  }

  get name(): string {
    return this.opts.name;
  }

  /** The socket is open and authenticated (messages can be sent now). */
  get isOpen(): boolean {
    return this.ready && this.socket?.readyState === SOCKET_STATE.OPEN;
  }

  /** Closed for good: by close(), a refusal, or giving up. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Dial (or wire the accepted socket). Events follow; a refused or unreachable first attempt arrives through them too. */
  start(): void {
    if (this.socket || this.closed) return;
    this.connect();
  }

  /**
   * The other side answered the handshake: the backoff starts over and the
   * unreachable clock stops (the owner decides what counts as an answer).
   */
  established(): void {
    this.backoff.reset();
  }

  /** Queue a message for this event-loop turn's batch (large ones go alone at once). False when not open: nothing was sent. Throws what encoding throws for a message sent alone. */
  push(msg: Message): boolean {
    if (!this.batcher || !this.isOpen) return false;
    let bytes = 0;
    for (const b of msg.buffers) bytes += b.byteLength;
    if (bytes >= SEND_ALONE_BYTES) this.sendNow(msg);
    else this.batcher.push(msg);
    return true;
  }

  /** Send one message on its own frame now, after what is queued (a handshake the other side checks the key on; a request whose msg_id must be the parent of the reply). Throws when not open or too large. */
  sendNow(msg: Message): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== SOCKET_STATE.OPEN || !this.ready) throw new Error(`not connected to ${this.opts.name}`);
    this.batcher?.flush();
    sendMessage(socket, msg, this.sendKey(), { maxBytes: this.opts.maxBytes });
  }

  /** Raw bytes, bypassing the codec (tests of bad input). */
  sendRaw(data: Buffer | string): void {
    (this.socket as unknown as { send(d: Buffer | string): void } | null)?.send(data);
  }

  /** Send what is queued now (before a process exit, or when no more can join the batch). */
  flush(): void {
    this.batcher?.flush();
  }

  /** Number of messages waiting for this turn's batch. */
  get queued(): number {
    return this.batcher?.pending ?? 0;
  }

  /** Beat every intervalMs and terminate the socket when nothing was heard for silentMs; replaces an earlier heartbeat, stops at close. */
  startHeartbeat(hb: PeerHeartbeat): void {
    const beat = hb.beat;
    this.liveness.start({
      intervalMs: hb.intervalMs,
      silentMs: hb.silentMs,
      active: () => this.isOpen,
      beat: beat && (() => this.push(beat())),
      onSilent: (silentForMs) => {
        hb.onSilent?.(silentForMs);
        this.socket?.terminate();
      },
    });
  }

  stopHeartbeat(): void {
    this.liveness.stop();
  }

  /** Close for good: queued messages are flushed first (when open), no retry follows. */
  close(code = 1000, reason = 'closing'): void {
    this.closed = true;
    this.stopRetry();
    this.stopHeartbeat();
    const socket = this.socket;
    if (!socket) return;
    if (socket.readyState === SOCKET_STATE.OPEN) {
      this.batcher?.flush();
      socket.close(code, reason);
    } else if (socket.readyState !== SOCKET_STATE.CLOSED) {
      socket.terminate();
    }
  }

  /** Drop the connection without a close handshake (what a killed process looks like); reconnects when configured and not closed. */
  terminate(): void {
    this.socket?.terminate();
  }

  /**
   * TLS options that trust the pinned certificate only: it is its own CA (it
   * is self-signed), and its fingerprint must match whatever name it carries.
   */
  private pinned(): Record<string, unknown> {
    const tls = this.opts.tls;
    if (!tls) return {};
    return {
      ca: tls.cert,
      // tls.connect's hook (ws's typings describe another signature)
      checkServerIdentity: (_host: string, cert: { fingerprint256: string }): Error | undefined => {
        if (cert.fingerprint256 === tls.fingerprint) return undefined;
        return Object.assign(new Error(`its TLS certificate (sha256 ${cert.fingerprint256}) is not the one pinned in the connection file (${tls.fingerprint})`), { code: TLS_PIN_MISMATCH });
      },
    };
  }

  private sendKey(): SigningKey {
    return this.channel?.send ?? this.opts.key;
  }

  private stopRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private connect(): void {
    this.retryTimer = null;
    if (this.closed) return;
    const accepted = this.opts.socket;
    const socket: MessageSocket =
      accepted ??
      (this.opts.dial
        ? this.opts.dial()
        : (new WebSocket(this.opts.url!, { maxPayload: this.opts.maxBytes ?? MAX_MESSAGE_BYTES, perMessageDeflate: false, handshakeTimeout: 10_000, localAddress: this.opts.localAddress, ...this.pinned() } as WebSocket.ClientOptions) as unknown as MessageSocket));
    this.socket = socket;
    let lastError: Error | null = null;
    const onOpen = (): void => {
      this.ready = false;
      this.channel = null;
      // Same process: nothing crosses a process boundary, frames are not signed (../protocol/framing.ts LocalFrame).
      if (socket.sendLocal) return this.becomeReady(socket);
      this.handshakeTimer = setTimeout(() => this.handshakeFailed(socket, `no handshake within ${HANDSHAKE_TIMEOUT_MS / 1000} s`, CLOSE_CODES.unauthenticated), HANDSHAKE_TIMEOUT_MS);
      this.handshakeTimer.unref?.();
      if (accepted) {
        this.challenge = newNonce();
        socket.send(encodeChallenge(this.challenge), { binary: true });
      }
    };
    socket.on('message', (data: Received) => (this.ready ? this.onData(data) : this.onHandshake(socket, data)));
    socket.on('error', (err) => {
      lastError = err;
    });
    socket.on('close', (code, reason) => this.onClose(socket, code, reason.toString(), lastError));
    if (accepted && accepted.readyState === SOCKET_STATE.OPEN) onOpen();
    else socket.on('open', onOpen);
  }

  /** The handshake is done (or not needed): batching starts, the owner is told the connection is open. */
  private becomeReady(socket: MessageSocket): void {
    this.clearHandshakeTimer();
    this.ready = true;
    this.batcher = new MessageBatcher(this.sendKey(), (data) => socket.send(data), {
      session: this.opts.session,
      maxBytes: this.opts.maxBytes,
      sendLocal: socket.sendLocal?.bind(socket),
    });
    this.liveness.heard();
    this.opened += 1;
    this.events.onOpen?.(this.opened > 1);
  }

  private clearHandshakeTimer(): void {
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
  }

  /** The first frame: the dialer gets the challenge and answers it; the acceptor checks the answer. */
  private onHandshake(socket: MessageSocket, data: Received): void {
    if (socket !== this.socket) return;
    this.bytesReceived += receivedBytes(data);
    try {
      if (this.challenge === null) {
        const { frame, channel } = answerChallenge(this.opts.key, newNonce(), decodeChallenge(data));
        socket.send(frame, { binary: true });
        this.channel = channel;
      } else {
        if (receivedBytes(data) > PRE_AUTH_BYTES) throw new ProtocolError('too_large', `first frame of ${receivedBytes(data)} bytes; at most ${PRE_AUTH_BYTES} before authentication`);
        this.channel = acceptAnswer(data, this.opts.key, this.challenge, PRE_AUTH_BYTES);
      }
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.reason : 'malformed';
      const code = reason === 'signature' ? CLOSE_CODES.authError : reason === 'version' ? CLOSE_CODES.versionMismatch : CLOSE_CODES.unauthenticated;
      return this.handshakeFailed(socket, (err as Error).message, code);
    }
    this.becomeReady(socket);
  }

  private handshakeFailed(socket: MessageSocket, why: string, code: number): void {
    this.clearHandshakeTimer();
    this.log(droppedLine(this.opts.logPrefix?.() ?? 'hpcdl:', 'the connection', this.opts.name, `handshake failed: ${why}`));
    if (socket.readyState === SOCKET_STATE.OPEN) socket.close(code, code === CLOSE_CODES.authError ? 'bad key' : why.slice(0, 120));
    else socket.terminate();
  }

  private onData(data: Received): void {
    this.liveness.heard();
    this.bytesReceived += receivedBytes(data);
    let messages: Message[];
    try {
      messages = decodeMessages(data, this.channel?.receive ?? this.opts.key, { maxBytes: this.opts.maxBytes });
    } catch (err) {
      this.log(droppedLine(this.opts.logPrefix?.() ?? 'hpcdl:', 'a message', this.opts.name, (err as Error).message));
      return;
    }
    this.events.onMessages(messages);
  }

  private onClose(socket: MessageSocket, code: number, reason: string, error: Error | null): void {
    if (socket !== this.socket) return;
    this.clearHandshakeTimer();
    this.ready = false;
    this.channel = null;
    this.challenge = null;
    this.batcher?.clear();
    this.batcher = null;
    this.stopHeartbeat();
    const refused = code === CLOSE_CODES.authError || code === CLOSE_CODES.versionMismatch || isTlsRefusal(error);
    const why = error ? `cannot reach ${this.opts.name} (${error.message})` : describeClose(this.opts.url ?? this.opts.name, code, reason);
    const byUs = this.closed;
    if (refused || !this.opts.reconnect || this.opts.socket) this.closed = true;
    this.events.onClose?.({ code, reason, error, why, refused, byUs });
    if (this.closed) return;
    const reconnect = this.opts.reconnect!;
    const { delayMs: delay, waitedMs: waited } = this.backoff.failed();
    const limit = typeof reconnect.giveUpAfterMs === 'function' ? reconnect.giveUpAfterMs() : reconnect.giveUpAfterMs;
    if (waited >= limit) {
      this.closed = true;
      this.events.onGiveUp?.(why, waited);
      return;
    }
    this.events.onRetry?.(why, delay);
    this.retryTimer = setTimeout(() => this.connect(), delay);
    if (!reconnect.holdsProcess) this.retryTimer.unref?.();
  }
}
