/**
 * Per-connection outgoing queue: everything queued during one event-loop turn
 * is signed and sent as one `batch` message (a single item goes out as itself).
 */
import type WebSocket from 'ws';
import { encodeMessage, makeMessage, type BatchItem, type Key, type MessageType } from '../protocol';

export class Outbox {
  private items: BatchItem[] = [];
  private buffers: Uint8Array[] = [];
  private scheduled = false;
  sentMessages = 0;

  constructor(
    private readonly ws: WebSocket,
    private readonly key: Key,
    private readonly session: string,
    private readonly onError: (err: Error) => void,
    /** called when the first item is queued, so the owner can flush at the end of its current turn */
    private readonly onDirty?: (outbox: Outbox) => void,
  ) {}

  /** `buffers` are this item's own; packed refs in `content` index into them from 0. */
  push(type: MessageType, content: unknown, buffers?: Uint8Array[], parentId?: string): void {
    const item: BatchItem = { t: type, c: content };
    if (buffers && buffers.length) {
      item.nb = buffers.length;
      for (const b of buffers) this.buffers.push(b);
    }
    if (parentId) item.p = parentId;
    this.items.push(item);
    if (this.items.length === 1) this.onDirty?.(this);
    if (this.items.length >= 8192) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.items.length === 0) return;
    const items = this.items;
    const buffers = this.buffers;
    this.items = [];
    this.buffers = [];
    if (this.ws.readyState !== this.ws.OPEN) return;
    const msg =
      items.length === 1
        ? makeMessage(items[0].t, items[0].c, { session: this.session, buffers, parent: items[0].p ? { msg_id: items[0].p } : undefined })
        : makeMessage('batch', { items }, { session: this.session, buffers });
    try {
      this.ws.send(encodeMessage(msg, this.key), { binary: true });
      this.sentMessages += 1;
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
