/**
 * The client's connection to the controller: the connect_request handshake,
 * request/reply matching by parent msg_id, and what a close means to a client
 * (refused, the controller it started is gone, give up after a while). The
 * socket, batching and reconnection with backoff are the shared Peer's
 * (../transport/peer.ts); the controller may be restarted with --resume.
 */
import type { MessageSocket } from '../transport/socket';
import { Peer, type PeerClose } from '../transport/peer';
import { describeClose, isMessageOf, makeMessage, newSession, type ConnectionInfo, type ContentMap, type Message, type MessageType, type ReplyTypes, type RequestType } from '../protocol';

export interface ConnectionEvents {
  /** every message that is not a reply to a pending request */
  onMessage(msg: Message): void;
  /** after each (re)connection's connect_reply; the cluster re-subscribes and re-queries here */
  onConnected(reply: Message<'connect_reply'>, reconnected: boolean): void | Promise<void>;
  onDisconnected?(why: string): void;
  /** the controller refused us for good (bad key, version) */
  onFatal?(message: string): void;
}

export interface ConnectionOptions {
  /** give up reconnecting after this long without a controller (ms, default 120 s) */
  reconnectTimeoutMs?: number;
  /** keep this client's tasks running when it disconnects for good (default: the controller cancels them after its orphan grace) */
  persist?: boolean;
  /** first connection attempt timeout (ms, default 15 s) */
  connectTimeoutMs?: number;
  log?: (line: string) => void;
  /** open the connection some other way than a WebSocket to `info.url` (the in-process controller) */
  dial?: () => MessageSocket;
  /** for a controller this client started: why it can no longer answer (it exited), else null; stops retrying at once */
  controllerGone?: () => string | null;
}

/** The reply type of each request, checked when a reply arrives. */
const REPLY_TYPE: { [K in RequestType]: ReplyTypes[K] } = {
  register_request: 'register_reply',
  heartbeat: 'heartbeat_reply',
  connect_request: 'connect_reply',
  submit_request: 'submit_reply',
  cancel_request: 'cancel_reply',
  result_request: 'result_reply',
  status_request: 'status_reply',
  subscribe_request: 'subscribe_reply',
  unsubscribe_request: 'subscribe_reply',
  engines_request: 'engines_reply',
  shutdown_request: 'shutdown_reply',
};

interface PendingRequest {
  /** the reply type expected */
  type: MessageType;
  resolve: (msg: Message) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
}

export class ControllerConnection {
  readonly session = newSession();

  /** bytes received from the controller so far */
  get bytesReceived(): number {
    return this.peer.bytesReceived;
  }
  private readonly peer: Peer;
  private readonly pending = new Map<string, PendingRequest>();
  private everConnected = false;
  private firstConnect: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private readonly log: (line: string) => void;

  constructor(
    readonly info: ConnectionInfo,
    private readonly events: ConnectionEvents,
    private readonly opts: ConnectionOptions = {},
  ) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.peer = new Peer(
      {
        key: info.key,
        name: `the controller at ${info.url}`,
        ...(opts.dial ? { dial: opts.dial } : { url: info.url }),
        ...(info.tls_cert && info.tls_fingerprint ? { tls: { cert: info.tls_cert, fingerprint: info.tls_fingerprint } } : {}),
        session: this.session,
        reconnect: { giveUpAfterMs: () => (this.everConnected ? (opts.reconnectTimeoutMs ?? 120_000) : (opts.connectTimeoutMs ?? 15_000)) },
        logPrefix: () => 'hpcdl client:',
        log: this.log,
      },
      {
        onOpen: () => void this.handshake(),
        onMessages: (messages) => this.onMessages(messages),
        onClose: (close) => this.onClose(close),
        onRetry: (why, delayMs) => {
          if (this.everConnected) this.log(`hpcdl client: ${why}; reconnecting in ${(delayMs / 1000).toFixed(1)} s`);
        },
        onGiveUp: (why, waitedMs) => this.fatal(`${why}; gave up after ${Math.round(waitedMs / 1000)} s`),
      },
    );
  }

  get url(): string {
    return this.info.url;
  }

  get connected(): boolean {
    return this.peer.isOpen && this.everConnected;
  }

  /** Connect and perform the connect_request handshake. Rejects with the URL tried when the controller cannot be reached. */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.peer.close();
          this.peer.terminate();
          reject(new Error(`could not connect to the controller at ${this.url} within ${(this.opts.connectTimeoutMs ?? 15_000) / 1000} s (is it running? connection file ${this.describeFile()})`));
        },
        this.opts.connectTimeoutMs ?? 15_000,
      );
      this.firstConnect = {
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.peer.start();
    });
  }

  private describeFile(): string {
    return (this.info as ConnectionInfo & { file?: string }).file ?? `of cluster ${this.info.cluster_id}`;
  }

  private async handshake(): Promise<void> {
    const content = this.opts.persist ? { client_session: this.session, persist: true } : { client_session: this.session };
    const msg = makeMessage('connect_request', content, { session: this.session });
    const reply = this.expectReply<'connect_request'>(msg, 15_000);
    try {
      this.peer.sendNow(msg); // alone, so the controller can check our key on it
    } catch {
      reply.catch(() => undefined);
      return; // the socket closed between the handshake and this send (e.g. a refused TLS pin); onClose handles it
    }
    let connectReply: Message<'connect_reply'>;
    try {
      connectReply = await reply;
    } catch {
      return; // socket closed meanwhile; onClose handles it
    }
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.peer.established();
    if (reconnected) this.log(`hpcdl client: reconnected to the controller at ${this.url}`);
    try {
      await this.events.onConnected(connectReply, reconnected);
    } finally {
      this.firstConnect?.resolve();
      this.firstConnect = null;
    }
  }

  private onMessages(messages: Message[]): void {
    for (const msg of messages) {
      const parentId = msg.parent_header.msg_id;
      const waiter = parentId ? this.pending.get(parentId) : undefined;
      if (waiter && msg.header.msg_type !== 'task_result' && msg.header.msg_type !== 'task_status') {
        this.pending.delete(parentId!);
        if (waiter.timer) clearTimeout(waiter.timer);
        if (isMessageOf(msg, 'error')) {
          waiter.reject(new Error(`controller at ${this.url}: ${msg.content.ename}: ${msg.content.evalue}`));
        } else if (msg.header.msg_type !== waiter.type) {
          waiter.reject(new Error(`controller at ${this.url} answered with ${msg.header.msg_type}, not ${waiter.type}`));
        } else waiter.resolve(msg);
        continue;
      }
      this.events.onMessage(msg);
    }
  }

  private onClose(close: PeerClose): void {
    this.failPending(new Error(`connection to the controller at ${this.url} closed`));
    if (close.byUs) return;
    if (close.refused) return this.fatal(close.error ? close.why : describeClose(this.url, close.code, close.reason));
    const gone = this.opts.controllerGone?.();
    if (gone) {
      this.peer.close();
      return this.fatal(`${close.why}: ${gone}`);
    }
    this.events.onDisconnected?.(close.why);
  }

  private fatal(message: string): void {
    this.firstConnect?.reject(new Error(message));
    this.firstConnect = null;
    this.events.onFatal?.(message);
  }

  private failPending(err: Error): void {
    for (const [id, waiter] of this.pending) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(err);
      this.pending.delete(id);
    }
  }

  private expectReply<T extends RequestType>(msg: Message, timeoutMs: number | null): Promise<Message<ReplyTypes[T]>> {
    const type = (REPLY_TYPE as Record<string, MessageType>)[msg.header.msg_type];
    return new Promise<Message>((resolve, reject) => {
      const timer =
        timeoutMs === null
          ? null
          : setTimeout(() => {
              this.pending.delete(msg.header.msg_id);
              reject(new Error(`controller at ${this.url} did not answer ${msg.header.msg_type} within ${timeoutMs / 1000} s`));
            }, timeoutMs);
      this.pending.set(msg.header.msg_id, { type, resolve, reject, timer });
    }) as Promise<Message<ReplyTypes[T]>>;
  }

  /** Fire and forget (dropped while disconnected; callers re-send what matters on reconnect). */
  send<T extends MessageType>(type: T, content: ContentMap[T], buffers: Uint8Array[] = []): boolean {
    return this.peer.push(makeMessage<MessageType>(type, content, { session: this.session, buffers }));
  }

  /** Send and wait for the reply (matched by parent msg_id). */
  request<T extends RequestType>(type: T, content: ContentMap[T], buffers: Uint8Array[] = [], timeoutMs: number | null = 30_000): Promise<Message<ReplyTypes[T]>> {
    if (!this.peer.isOpen) return Promise.reject(new Error(`not connected to the controller at ${this.url}`));
    const msg = makeMessage<MessageType>(type, content, { session: this.session, buffers });
    const reply = this.expectReply<T>(msg, timeoutMs);
    // Sent on its own (after anything queued): inside a batch the controller would see another msg_id as the parent.
    try {
      this.peer.sendNow(msg);
    } catch (err) {
      this.pending.get(msg.header.msg_id)?.reject(err as Error);
      this.pending.delete(msg.header.msg_id);
    }
    return reply;
  }

  /** Send whatever is queued now (before a process exit). */
  flush(): void {
    this.peer.flush();
  }

  close(): void {
    this.peer.flush();
    this.failPending(new Error('client closed'));
    this.peer.close(1000, 'client closing');
  }
}
