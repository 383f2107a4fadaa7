/**
 * Per-connection outgoing queue: everything queued during one event-loop turn
 * is signed and sent as one `batch` message (a single item goes out as itself),
 * or sooner once MAX_BATCH_ITEMS are queued.
 */
import { sendMessage, type MessageSocket } from '../transport/socket';
import { BatchBuilder, MAX_BATCH_ITEMS, type SigningKey, type ContentMap, type MessageType } from '../protocol';

export class Outbox {
  private readonly batch = new BatchBuilder();
  private scheduled = false;
  private lateTimer: NodeJS.Timeout | null = null;
  sentMessages = 0;

  constructor(
    private readonly ws: MessageSocket,
    private key: SigningKey,
    private readonly session: string,
    private readonly onError: (err: Error) => void,
    /** called when the first item is queued, so the owner can flush at the end of its current turn */
    private readonly onDirty?: (outbox: Outbox) => void,
  ) {}

  /** Sign with the connection's own key from now on (after its handshake). */
  setKey(key: SigningKey): void {
    this.key = key;
  }

  /** `buffers` are this item's own; packed refs in `content` index into them from 0. */
  push<T extends MessageType>(type: T, content: ContentMap[T], buffers?: Uint8Array[], parentId?: string): void {
    this.batch.add(type, content, buffers, parentId);
    if (this.batch.size >= MAX_BATCH_ITEMS) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      this.onDirty?.(this);
      setImmediate(() => this.flush());
    }
  }

  /**
   * Queue an item that is not urgent: it rides along with the next flush of
   * this outbox, or goes out on its own after `maxDelayMs` if nothing else is
   * sent by then. Saves a frame (and a wake-up of both ends) per reply the
   * peer does not wait on.
   */
  pushLate(type: MessageType, content: unknown, parentId: string | undefined, maxDelayMs: number): void {
    this.batch.add(type, content, undefined, parentId);
    if (this.batch.size >= MAX_BATCH_ITEMS) this.flush();
    else if (!this.scheduled && !this.lateTimer) this.lateTimer = setTimeout(() => this.flush(), maxDelayMs);
  }

  flush(): void {
    this.scheduled = false;
    if (this.lateTimer) {
      clearTimeout(this.lateTimer);
      this.lateTimer = null;
    }
    if (this.batch.size === 0) return;
    if (this.ws.readyState !== this.ws.OPEN) {
      this.batch.clear();
      return;
    }
    const msg = this.batch.take(this.session);
    try {
      sendMessage(this.ws, msg, this.key);
      this.sentMessages += 1;
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
