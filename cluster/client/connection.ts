/**
 * The client's WebSocket to the controller: signed messages through protocol.ts,
 * request/reply matching by parent msg_id, batching of outgoing messages, and
 * reconnection with backoff (the controller may be restarted with --resume).
 */
import WebSocket from 'ws';
import { SOCKET_STATE, sendMessage, type MessageSocket } from '../transport/socket';
import {
  CLOSE_CODES,
  MAX_MESSAGE_BYTES,
  MessageBatcher,
  decodeMessages,
  describeClose,
  makeMessage,
  newSession,
  type ConnectionInfo,
  type Message,
  type MessageType,
  type Received,
  receivedBytes,
} from '../protocol';

export interface ConnectionEvents {
  /** every message that is not a reply to a pending request */
  onMessage(msg: Message): void;
  /** after each (re)connection's connect_reply; the cluster re-subscribes and re-queries here */
  onConnected(reply: Message, reconnected: boolean): void | Promise<void>;
  onDisconnected?(why: string): void;
  /** the controller refused us for good (bad key, version) */
  onFatal?(message: string): void;
}

export interface ConnectionOptions {
  /** give up reconnecting after this long without a controller (ms, default 120 s) */
  reconnectTimeoutMs?: number;
  /** first connection attempt timeout (ms, default 15 s) */
  connectTimeoutMs?: number;
  log?: (line: string) => void;
  /** open the connection some other way than a WebSocket to `info.url` (the in-process controller) */
  dial?: () => MessageSocket;
  /** for a controller this client started: why it can no longer answer (it exited), else null; stops retrying at once */
  controllerGone?: () => string | null;
}

interface PendingRequest {
  resolve: (msg: Message) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
}

export class ControllerConnection {
  readonly session = newSession();
  /** bytes of every frame received from the controller */
  bytesReceived = 0;
  private ws: MessageSocket | null = null;
  private batcher: MessageBatcher | null = null;
  private readonly pending = new Map<string, PendingRequest>();
  private closed = false;
  private everConnected = false;
  private unreachableSince: number | null = null;
  private reconnectDelayMs = 200;
  private firstConnect: { resolve: () => void; reject: (err: Error) => void } | null = null;
  private readonly log: (line: string) => void;

  constructor(
    readonly info: ConnectionInfo,
    private readonly events: ConnectionEvents,
    private readonly opts: ConnectionOptions = {},
  ) {
    this.log = opts.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  get url(): string {
    return this.info.url;
  }

  get connected(): boolean {
    return this.ws?.readyState === SOCKET_STATE.OPEN && this.everConnected;
  }

  /** Connect and perform the connect_request handshake. Rejects with the URL tried when the controller cannot be reached. */
  open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => {
          this.closed = true;
          this.ws?.terminate();
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
      this.dial();
    });
  }

  private describeFile(): string {
    return (this.info as ConnectionInfo & { file?: string }).file ?? `of cluster ${this.info.cluster_id}`;
  }

  private dial(): void {
    if (this.closed) return;
    const ws: MessageSocket = this.opts.dial
      ? this.opts.dial()
      : new WebSocket(this.url, { maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, handshakeTimeout: 10_000 });
    this.ws = ws;
    let lastError: Error | null = null;
    ws.on('open', () => {
      this.batcher = new MessageBatcher(this.info.key, (data) => ws.send(data), { session: this.session, sendLocal: ws.sendLocal?.bind(ws) });
      void this.handshake(ws);
    });
    ws.on('message', (data: Received) => this.onData(data));
    ws.on('error', (err) => {
      lastError = err;
    });
    ws.on('close', (code, reason) => this.onClose(ws, code, reason.toString(), lastError));
  }

  private async handshake(ws: MessageSocket): Promise<void> {
    const msg = makeMessage('connect_request', { client_session: this.session }, { session: this.session });
    const reply = this.expectReply(msg, 15_000);
    sendMessage(ws, msg, this.info.key); // alone, so the controller can check our key on it
    let connectReply: Message;
    try {
      connectReply = await reply;
    } catch {
      return; // socket closed meanwhile; onClose handles it
    }
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.unreachableSince = null;
    this.reconnectDelayMs = 200;
    if (reconnected) this.log(`hpcdl client: reconnected to the controller at ${this.url}`);
    try {
      await this.events.onConnected(connectReply, reconnected);
    } finally {
      this.firstConnect?.resolve();
      this.firstConnect = null;
    }
  }

  private onData(data: Received): void {
    this.bytesReceived += receivedBytes(data);
    let messages: Message[];
    try {
      messages = decodeMessages(data, this.info.key);
    } catch (err) {
      this.log(`hpcdl client: dropped a message from the controller at ${this.url}: ${(err as Error).message}`);
      return;
    }
    for (const msg of messages) {
      const parentId = msg.parent_header.msg_id;
      const waiter = parentId ? this.pending.get(parentId) : undefined;
      if (waiter && msg.header.msg_type !== 'task_result' && msg.header.msg_type !== 'task_status') {
        this.pending.delete(parentId!);
        if (waiter.timer) clearTimeout(waiter.timer);
        if (msg.header.msg_type === 'error') {
          waiter.reject(new Error(`controller at ${this.url}: ${msg.content.ename}: ${msg.content.evalue}`));
        } else waiter.resolve(msg);
        continue;
      }
      this.events.onMessage(msg);
    }
  }

  private onClose(ws: MessageSocket, code: number, reason: string, err: Error | null): void {
    if (ws !== this.ws) return;
    this.batcher?.clear();
    this.batcher = null;
    this.failPending(new Error(`connection to the controller at ${this.url} closed`));
    if (this.closed) return;
    if (code === CLOSE_CODES.authError || code === CLOSE_CODES.versionMismatch) {
      const message = describeClose(this.url, code, reason);
      this.closed = true;
      this.firstConnect?.reject(new Error(message));
      this.firstConnect = null;
      this.events.onFatal?.(message);
      return;
    }
    const why = err ? `cannot reach the controller at ${this.url} (${err.message})` : describeClose(this.url, code, reason);
    const gone = this.opts.controllerGone?.();
    if (gone) {
      this.closed = true;
      const message = `${why}: ${gone}`;
      this.firstConnect?.reject(new Error(message));
      this.firstConnect = null;
      this.events.onFatal?.(message);
      return;
    }
    this.events.onDisconnected?.(why);
    const now = Date.now();
    if (this.unreachableSince === null) this.unreachableSince = now;
    const limit = this.everConnected ? (this.opts.reconnectTimeoutMs ?? 120_000) : (this.opts.connectTimeoutMs ?? 15_000);
    if (now - this.unreachableSince >= limit) {
      this.closed = true;
      const message = `${why}; gave up after ${Math.round((now - this.unreachableSince) / 1000)} s`;
      this.firstConnect?.reject(new Error(message));
      this.firstConnect = null;
      this.events.onFatal?.(message);
      return;
    }
    if (this.everConnected) this.log(`hpcdl client: ${why}; reconnecting in ${(this.reconnectDelayMs / 1000).toFixed(1)} s`);
    const delay = this.reconnectDelayMs;
    this.reconnectDelayMs = Math.min(this.reconnectDelayMs * 2, 2000);
    setTimeout(() => this.dial(), delay).unref?.();
  }

  private failPending(err: Error): void {
    for (const [id, waiter] of this.pending) {
      if (waiter.timer) clearTimeout(waiter.timer);
      waiter.reject(err);
      this.pending.delete(id);
    }
  }

  private expectReply(msg: Message, timeoutMs: number | null): Promise<Message> {
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs === null
          ? null
          : setTimeout(() => {
              this.pending.delete(msg.header.msg_id);
              reject(new Error(`controller at ${this.url} did not answer ${msg.header.msg_type} within ${timeoutMs / 1000} s`));
            }, timeoutMs);
      this.pending.set(msg.header.msg_id, { resolve, reject, timer });
    });
  }

  /** Fire and forget (dropped while disconnected; callers re-send what matters on reconnect). */
  send(type: MessageType, content: unknown, buffers: Uint8Array[] = []): boolean {
    if (!this.batcher || this.ws?.readyState !== SOCKET_STATE.OPEN) return false;
    this.batcher.push(makeMessage(type, content, { session: this.session, buffers }));
    return true;
  }

  /** Send and wait for the reply (matched by parent msg_id). */
  request(type: MessageType, content: unknown, buffers: Uint8Array[] = [], timeoutMs: number | null = 30_000): Promise<Message> {
    if (!this.batcher || this.ws?.readyState !== SOCKET_STATE.OPEN) {
      return Promise.reject(new Error(`not connected to the controller at ${this.url}`));
    }
    const msg = makeMessage(type, content, { session: this.session, buffers });
    const reply = this.expectReply(msg, timeoutMs);
    // Sent on its own (after anything queued): inside a batch the controller would see another msg_id as the parent.
    this.batcher.flush();
    try {
      sendMessage(this.ws!, msg, this.info.key);
    } catch (err) {
      this.pending.get(msg.header.msg_id)?.reject(err as Error);
      this.pending.delete(msg.header.msg_id);
    }
    return reply;
  }

  /** Send whatever is queued now (before a process exit). */
  flush(): void {
    this.batcher?.flush();
  }

  close(): void {
    this.closed = true;
    this.batcher?.flush();
    this.failPending(new Error('client closed'));
    this.ws?.close(1000, 'client closing');
  }
}
