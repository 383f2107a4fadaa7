/**
 * Two connected MessageSockets in one process: what one end sends, the other
 * receives, in order, as a microtask after the sender's code returns (never
 * inside the sender's call). Used between a client and the controller it
 * started in its own process, so the hot path skips the loopback TCP hops, the
 * WebSocket framing, the signatures and two process wake-ups. The protocol's
 * LocalFrames travel as they are; bytes (send) are delivered too.
 */
import { EventEmitter } from 'node:events';
import type { LocalFrame, Received } from '../protocol';
import { SOCKET_STATE, type MessageSocket } from './socket';

export class InProcessSocket extends EventEmitter implements MessageSocket {
  readonly OPEN = SOCKET_STATE.OPEN;
  readyState: number = SOCKET_STATE.OPEN;
  peer: InProcessSocket | null = null;
  private inbox: Received[] = [];
  private draining = false;

  constructor(readonly address: string) {
    super();
  }

  send(data: Buffer | Uint8Array): void {
    this.checkOpen();
    this.peer!.deliver(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  }

  sendLocal(frame: LocalFrame): void {
    this.checkOpen();
    this.peer!.deliver(frame);
  }

  private checkOpen(): void {
    if (this.readyState !== SOCKET_STATE.OPEN) throw new Error(`in-process connection ${this.address} is not open`);
  }

  close(code = 1000, reason = ''): void {
    this.shut(code, reason);
  }

  terminate(): void {
    this.shut(1006, '');
  }

  private deliver(data: Received): void {
    this.inbox.push(data);
    if (this.draining) return;
    this.draining = true;
    queueMicrotask(() => this.drain());
  }

  private drain(): void {
    this.draining = false;
    const frames = this.inbox;
    this.inbox = [];
    // Frames sent before a close still arrive (closing ends drain before their 'close').
    for (const frame of frames) {
      if (this.readyState === SOCKET_STATE.CLOSED) return;
      this.emit('message', frame, true);
    }
  }

  /** Both ends close; each sees 'close' once, after what was already sent to it. */
  private shut(code: number, reason: string): void {
    const ends = [this, this.peer].filter((s): s is InProcessSocket => s !== null && s.readyState < SOCKET_STATE.CLOSING);
    for (const end of ends) end.readyState = SOCKET_STATE.CLOSING;
    queueMicrotask(() => {
      for (const end of ends) {
        end.drain();
        end.readyState = SOCKET_STATE.CLOSED;
        end.emit('close', code, Buffer.from(reason));
      }
    });
  }
}

/**
 * A connected pair, open at once. The client end also emits 'open' on the next
 * microtask, so a dialer written for WebSockets works unchanged.
 */
export function inProcessPair(address = 'in-process'): { client: InProcessSocket; server: InProcessSocket } {
  const client = new InProcessSocket(address);
  const server = new InProcessSocket(address);
  client.peer = server;
  server.peer = client;
  client.readyState = SOCKET_STATE.OPEN;
  server.readyState = SOCKET_STATE.OPEN;
  queueMicrotask(() => client.readyState === SOCKET_STATE.OPEN && client.emit('open'));
  return { client, server };
}
