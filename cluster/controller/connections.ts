/**
 * WebSocket connections to the controller: decode and verify every frame,
 * refuse a peer whose first message fails the key or version check, route
 * messages to the engine or client side by the peer's role, and keep the
 * wire counters.
 */
import type { MessageSocket } from '../transport/socket';
import { CLOSE_CODES, ProtocolError, decodeMessages, isMessageOf, newSession, receivedBytes, type Message, type Received } from '../protocol';
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

  constructor(
    private readonly ctx: ControllerContext,
    private readonly key: string,
    private readonly engineSide: EngineSessions,
    private readonly clientSide: ClientSessions,
    private readonly dispatch: DispatchLoop,
  ) {}

  get framesSent(): number {
    let n = this.framesSentByClosed;
    for (const p of this.peers) n += p.outbox.sentMessages;
    return n;
  }

  /** Serve a new connection; `address` names the peer in logs. */
  accept(ws: MessageSocket, address: string): void {
    const onSendError = (err: Error) => this.ctx.log(`send to ${address} failed: ${err.message}`);
    const peer: Peer = {
      ws,
      address,
      role: 'unknown',
      authenticated: false,
      outbox: new Outbox(ws, this.key, this.session, onSendError, (o) => this.dispatch.markDirty(o)),
      engine: null,
      client: null,
    };
    this.peers.add(peer);
    ws.on('message', (data: Received, isBinary: boolean) => this.onData(peer, data, isBinary));
    ws.on('close', () => this.onClose(peer));
    ws.on('error', (err) => this.ctx.log(`connection ${address}: ${err.message}`));
  }

  private onData(peer: Peer, data: Received, isBinary: boolean): void {
    this.bytesReceived += receivedBytes(data);
    let messages: Message[];
    try {
      if (!isBinary) throw new ProtocolError('malformed', 'text WebSocket frame (protocol messages are binary)');
      messages = decodeMessages(data, this.key, { maxBytes: this.ctx.opts.maxMessageBytes });
    } catch (err) {
      this.onBadMessage(peer, err);
      return;
    }
    peer.authenticated = true;
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
      this.ctx.log(`dropped ${msg.header.msg_type} from ${peer.address}: ${(err as Error).message}`);
    }
  }

  private onBadMessage(peer: Peer, err: unknown): void {
    this.badMessages += 1;
    const reason = err instanceof ProtocolError ? err.reason : 'malformed';
    const detail = (err as Error).message;
    this.ctx.log(`dropped message from ${peer.address} (${reason}): ${detail}`);
    if (peer.authenticated) return;
    if (reason === 'signature') {
      this.ctx.log(`refusing ${peer.address}: bad key`);
      peer.ws.close(CLOSE_CODES.authError, 'bad key');
    } else if (reason === 'version') {
      peer.ws.close(CLOSE_CODES.versionMismatch, detail.slice(0, 120));
    }
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
