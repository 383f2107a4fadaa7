/** Batching: many small messages in one signed frame set. */
import type { BatchItem, ContentMap } from './content';
import { isMessageOf, makeMessage, type Envelope, type Message, type MessageType } from './envelope';
import { decodeLocal, decodeMessage, encodeLocal, encodeMessage, isLocalFrame, type CodecOptions, type LocalFrame, type Received } from './framing';
import type { SigningKey } from './signing';

/**
 * Most messages in one batch: every sender (MessageBatcher here, the
 * controller's Outbox) flushes when this many are queued, so no peer ever
 * receives a bigger batch than any other peer sends.
 */
export const MAX_BATCH_ITEMS = 4096;

/**
 * Collects messages as batch items (type, content, own buffers, parent id)
 * without building a Message for each, then hands them out as one message:
 * `take` sends a lone item as itself, `takeBatch` always wraps in a `batch`.
 */
export class BatchBuilder {
  private items: BatchItem[] = [];
  private buffers: Uint8Array[] = [];

  get size(): number {
    return this.items.length;
  }

  /** `ownBuffers` are this item's; packed refs in `content` index into them from 0. */
  add(type: MessageType, content: unknown, ownBuffers?: Uint8Array[], parentId?: string, metadata?: Record<string, unknown>): void {
    const item: BatchItem = { t: type, c: content as ContentMap[MessageType] };
    if (ownBuffers && ownBuffers.length) {
      item.nb = ownBuffers.length;
      for (const b of ownBuffers) this.buffers.push(b);
    }
    if (parentId) item.p = parentId;
    if (metadata && Object.keys(metadata).length) item.m = metadata;
    this.items.push(item);
  }

  /** Everything added as one message (a lone item as itself), and start empty again. */
  take(session?: string): Message {
    if (this.items.length !== 1) return this.takeBatch(session);
    const [item] = this.items;
    const buffers = this.buffers;
    this.clear();
    return makeMessage<MessageType>(item.t, item.c, { session, buffers, parent: item.p ? { msg_id: item.p } : undefined });
  }

  /** Everything added as one `batch` message, and start empty again. */
  takeBatch(session?: string): Message<'batch'> {
    const items = this.items;
    const buffers = this.buffers;
    this.clear();
    return makeMessage('batch', { items }, { session, buffers });
  }

  clear(): void {
    this.items = [];
    this.buffers = [];
  }
}

/** Wrap several messages into one `batch` message (one signature, one WebSocket frame). */
export function makeBatch(messages: Message[], opts: { session?: string } = {}): Message<'batch'> {
  const batch = new BatchBuilder();
  for (const m of messages) batch.add(m.header.msg_type, m.content, m.buffers, m.parent_header.msg_id, m.metadata);
  return batch.takeBatch(opts.session);
}

/** Split a decoded `batch` into its messages (each inherits the batch header's session/date); any other message → [msg]. */
export function expandBatch(msg: Message): Message[] {
  if (!isMessageOf(msg, 'batch')) return [msg];
  const items = msg.content.items;
  const out: Message[] = new Array(items.length);
  let b = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const nb = item.nb ?? 0;
    const expanded: Envelope<MessageType> = {
      header: { ...msg.header, msg_id: `${msg.header.msg_id}/${i}`, msg_type: item.t },
      parent_header: item.p ? { msg_id: item.p } : {},
      metadata: item.m ?? {},
      content: item.c,
      buffers: nb ? msg.buffers.slice(b, b + nb) : [],
    };
    out[i] = expanded as Message;
    b += nb;
  }
  return out;
}

/** decodeMessage (or decodeLocal) followed by expandBatch: what most receivers want. */
export function decodeMessages(raw: Received, key: SigningKey, opts: CodecOptions = {}): Message[] {
  return expandBatch(isLocalFrame(raw) ? decodeLocal(raw) : decodeMessage(raw, key, opts));
}

/**
 * Collects outgoing messages and sends them as one `batch` per event-loop turn
 * (or immediately when `maxItems`, default MAX_BATCH_ITEMS, is reached). A single queued message is sent
 * as itself. `send` receives the encoded bytes.
 */
export class MessageBatcher {
  private queue: Message[] = [];
  private scheduled = false;

  constructor(
    private readonly key: SigningKey,
    private readonly send: (data: Buffer) => void,
    /** `sendLocal`: the peer is in this process and gets LocalFrames instead (see framing.ts) */
    private readonly opts: { maxItems?: number; session?: string; maxBytes?: number; sendLocal?: (frame: LocalFrame) => void } = {},
  ) {}

  push(msg: Message): void {
    this.queue.push(msg);
    if (this.queue.length >= (this.opts.maxItems ?? MAX_BATCH_ITEMS)) {
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
    const codec = { maxBytes: this.opts.maxBytes };
    if (this.opts.sendLocal) this.opts.sendLocal(encodeLocal(msg, codec));
    else this.send(encodeMessage(msg, this.key, codec));
  }

  /** Drop everything queued (e.g. the socket closed). */
  clear(): void {
    this.queue = [];
  }
}
