/** Batching: many small messages in one signed frame set. */
import { makeMessage, type Message, type MessageType } from './envelope';
import { decodeMessage, encodeMessage, type CodecOptions } from './framing';
import type { Key } from './signing';

/** One message inside a batch. Buffers of item i follow those of items 0..i-1. */
export interface BatchItem {
  /** msg_type */
  t: MessageType;
  /** content */
  c: any;
  /** number of buffers this item owns */
  nb?: number;
  /** parent msg_id, when the item answers a request */
  p?: string;
  /** metadata, when non-empty */
  m?: Record<string, unknown>;
}

/** Wrap several messages into one `batch` message (one signature, one WebSocket frame). */
export function makeBatch(messages: Message[], opts: { session?: string } = {}): Message<{ items: BatchItem[] }> {
  const items: BatchItem[] = new Array(messages.length);
  const buffers: Uint8Array[] = [];
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i];
    const item: BatchItem = { t: m.header.msg_type, c: m.content };
    if (m.buffers.length) {
      item.nb = m.buffers.length;
      for (const b of m.buffers) buffers.push(b);
    }
    if (m.parent_header.msg_id) item.p = m.parent_header.msg_id;
    if (Object.keys(m.metadata).length) item.m = m.metadata;
    items[i] = item;
  }
  return makeMessage('batch', { items }, { session: opts.session, buffers });
}

/** Split a decoded `batch` into its messages (each inherits the batch header's session/date); any other message → [msg]. */
export function expandBatch(msg: Message): Message[] {
  if (msg.header.msg_type !== 'batch') return [msg];
  const items = (msg.content as { items: BatchItem[] }).items;
  const out: Message[] = new Array(items.length);
  let b = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const nb = item.nb ?? 0;
    out[i] = {
      header: { ...msg.header, msg_id: `${msg.header.msg_id}/${i}`, msg_type: item.t },
      parent_header: item.p ? { msg_id: item.p } : {},
      metadata: item.m ?? {},
      content: item.c,
      buffers: nb ? msg.buffers.slice(b, b + nb) : [],
    };
    b += nb;
  }
  return out;
}

/** decodeMessage followed by expandBatch: what most receivers want. */
export function decodeMessages(raw: Uint8Array | ArrayBuffer | Buffer[], key: Key, opts: CodecOptions = {}): Message[] {
  return expandBatch(decodeMessage(raw, key, opts));
}

/**
 * Collects outgoing messages and sends them as one `batch` per event-loop turn
 * (or immediately when `maxItems` is reached). A single queued message is sent
 * as itself. `send` receives the encoded bytes.
 */
export class MessageBatcher {
  private queue: Message[] = [];
  private scheduled = false;

  constructor(
    private readonly key: Key,
    private readonly send: (data: Buffer) => void,
    private readonly opts: { maxItems?: number; session?: string; maxBytes?: number } = {},
  ) {}

  push(msg: Message): void {
    this.queue.push(msg);
    if (this.queue.length >= (this.opts.maxItems ?? 4096)) {
      this.flush();
      return;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  get pending(): number {
    return this.queue.length;
  }

  flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const queued = this.queue;
    this.queue = [];
    const msg = queued.length === 1 ? queued[0] : makeBatch(queued, { session: this.opts.session });
    this.send(encodeMessage(msg, this.key, { maxBytes: this.opts.maxBytes }));
  }

  /** Drop everything queued (e.g. the socket closed). */
  clear(): void {
    this.queue = [];
  }
}
