/**
 * WebSocket connections to the controller: the challenge handshake (each
 * connection gets a challenge and must answer it, within the limits of
 * ./admission.ts, before anything else is read), decode and verify every
 * frame with the connection's own keys, close a peer whose first frame fails,
 * route messages to the engine or client side by the peer's role, and keep
 * the wire counters. Log lines about what peers sent are rate-limited.
 */
import type * as net from 'node:net';
import type { MessageSocket } from '../transport/socket';
import { LogLimiter } from '../transport/drop-log';
import {
  CLOSE_CODES,
  ProtocolError,
  acceptAnswer,
  decodeMessages,
  encodeChallenge,
  isMessageOf,
  newNonce,
  newSession,
  receivedBytes,
  type Message,
  type Received,
} from '../protocol';
import { Admission, DEFAULT_ADMISSION, type AdmissionLimits, type Pending } from './admission';
import type { ClientSessions } from './client-sessions';
import type { DispatchLoop } from './dispatch';
import type { EngineSessions } from './engine-sessions';
import { Outbox } from './outbox';
import type { ControllerContext, Peer } from './types';


export class Connections {
  readonly peers = new Set<Peer>();
  private readonly session = newSession();
  badMessages = 0;
  framesReceived = 0;
  messagesReceived = 0;
  /** bytes of every frame received (engines and clients): shows what passes through the controller */
  bytesReceived = 0;
  private framesSentByClosed = 0;
  /** what peers send decides how many lines they cause: at most 20 per 10 s */
  private readonly peerLog: LogLimiter;
  readonly admission: Admission;

  constructor(
    private readonly ctx: ControllerContext,
    private readonly key: string,
    private readonly engineSide: EngineSessions,
    private readonly clientSide: ClientSessions,
    private readonly dispatch: DispatchLoop,
    limits: AdmissionLimits = DEFAULT_ADMISSION,
  ) {
    this.peerLog = new LogLimiter(ctx.log);
    this.admission = new Admission(limits, (address, why) => {
      this.badMessages += 1;
      this.peerLog.line(`refusing ${address}: ${why}`);
    });
  }

  /** A log line caused by what a peer sent (rate-limited). */
  peerLine(line: string): void {
    this.peerLog.line(line);
  }

  get framesSent(): number {
    let n = this.framesSentByClosed;
    for (const p of this.peers) n += p.outbox.sentMessages;
    return n;
  }

  /**
   * Serve a new connection; `address` names the peer in logs, `raw` is its TCP
   * socket (none: in-process). A WebSocket peer gets the challenge at once; an
   * in-process one needs none (its frames never leave the process).
   */
  accept(ws: MessageSocket, address: string, raw: net.Socket | null = null): void {
    const onSendError = (err: Error) => this.ctx.log(`send to ${address} failed: ${err.message}`);
    const peer: Peer = {
      ws,
      address,
      role: 'unknown',
      authenticated: false,
      channel: null,
      outbox: new Outbox(ws, this.key, this.session, onSendError, (o) => this.dispatch.markDirty(o)),
      engine: null,
      client: null,
    };
    this.peers.add(peer);
    let pending: Pending | null = null;
    let challenge = '';
    if (ws.sendLocal) peer.authenticated = true;
    else {
      const host = address.slice(0, address.lastIndexOf(':')) || address;
      pending = this.admission.admit(ws, host, address, raw);
      challenge = newNonce();
      ws.send(encodeChallenge(challenge), { binary: true });
    }
    ws.on('message', (data: Received, isBinary: boolean) => {
      if (peer.authenticated) this.onData(peer, data, isBinary);
      else if (pending) this.onAnswer(peer, pending, challenge, data, isBinary);
    });
    ws.on('close', () => {
      if (pending) this.admission.release(pending);
      this.onClose(peer);
    });
    ws.on('error', (err) => this.peerLog.line(`connection ${address}: ${err.message}`));
  }

  /** The first frame of a WebSocket peer: its answer to the challenge, or the connection is closed. */
  private onAnswer(peer: Peer, pending: Pending, challenge: string, data: Received, isBinary: boolean): void {
    this.bytesReceived += receivedBytes(data);
    if (pending.refused) return;
    try {
      if (!isBinary) throw new ProtocolError('malformed', 'text WebSocket frame (protocol messages are binary)');
      const bytes = receivedBytes(data);
      if (bytes > DEFAULT_ADMISSION.preAuthBytes) throw new ProtocolError('too_large', `first frame of ${bytes} bytes; at most ${DEFAULT_ADMISSION.preAuthBytes} before authenticating`);
      peer.channel = acceptAnswer(data, this.key, challenge, DEFAULT_ADMISSION.preAuthBytes);
    } catch (err) {
      const reason = err instanceof ProtocolError ? err.reason : 'malformed';
      const detail = (err as Error).message;
      if (reason === 'signature') this.admission.close(pending, reason, 'bad key', CLOSE_CODES.authError);
      else if (reason === 'version') this.admission.close(pending, reason, detail, CLOSE_CODES.versionMismatch);
      else this.admission.close(pending, reason, `${reason}: ${detail}`);
      return;
    }
    this.admission.release(pending);
    peer.authenticated = true;
    peer.outbox.setKey(peer.channel.send);
  }

  private onData(peer: Peer, data: Received, isBinary: boolean): void {
    this.bytesReceived += receivedBytes(data);
    let messages: Message[];
    try {
      if (!isBinary) throw new ProtocolError('malformed', 'text WebSocket frame (protocol messages are binary)');
      messages = decodeMessages(data, peer.channel?.receive ?? this.key, { maxBytes: this.ctx.opts.maxMessageBytes });
    } catch (err) {
      this.onBadMessage(peer, err);
      return;
    }
    this.framesReceived += 1;
    this.messagesReceived += messages.length;
    if (peer.engine) peer.engine.lastSeen = Date.now();
    this.dispatch.duringFrame(() => {
      for (const msg of messages) this.handleOne(peer, msg);
    });
  }

  private handleOne(peer: Peer, msg: Message): void {
    try {
      this.route(peer, msg);
    } catch (err) {
      this.badMessages += 1;
      this.peerLog.line(`dropped ${msg.header.msg_type} from ${peer.address}: ${(err as Error).message}`);
    }
  }

  /** A bad frame from an authenticated peer: dropped (its sequence number is not used up, so the next good frame still verifies). */
  private onBadMessage(peer: Peer, err: unknown): void {
    this.badMessages += 1;
    const reason = err instanceof ProtocolError ? err.reason : 'malformed';
    this.peerLog.line(`dropped message from ${peer.address} (${reason}): ${(err as Error).message}`);
  }

  private onClose(peer: Peer): void {
    if (this.peers.delete(peer)) this.framesSentByClosed += peer.outbox.sentMessages;
    if (peer.engine && peer.engine.alive && peer.engine.peer === peer) this.engineSide.disconnected(peer.engine, peer);
    if (peer.client && peer.client.peer === peer) this.clientSide.disconnected(peer.client, peer);
  }

  /** The first message decides the role: register_request → engine, connect_request → client. */
  private route(peer: Peer, msg: Message): void {
    const type = msg.header.msg_type;
    if (peer.role === 'unknown') {
      if (isMessageOf(msg, 'register_request')) return this.engineSide.register(peer, msg);
      if (isMessageOf(msg, 'connect_request')) return this.clientSide.connect(peer, msg);
      throw new Error(`expected register_request or connect_request first, got ${type}`);
    }
    if (peer.role === 'engine') return this.engineSide.handle(peer, peer.engine!, msg);
    return this.clientSide.handle(peer, peer.client!, msg);
  }
}
