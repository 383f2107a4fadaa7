/**
 * What the controller and the client need from a connection: the subset of a
 * `ws` WebSocket they use. A `ws` socket satisfies it as is; so does one end of
 * an in-process pair (./in-process.ts), which carries LocalFrames (the
 * protocol's unsigned same-process form) instead of bytes when the controller
 * runs in the client's process.
 */
import { encodeLocal, encodeMessage, type CodecOptions, type SigningKey, type LocalFrame, type Message, type Received } from '../protocol';

export interface MessageSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: Buffer | Uint8Array, options?: { binary?: boolean }): void;
  /** present on in-process sockets: the peer gets the frame as is */
  sendLocal?(frame: LocalFrame): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open', listener: () => void): this;
  on(event: 'message', listener: (data: Received, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
}

/** WebSocket ready states (the same numbers as `ws` and the browser). */
export const SOCKET_STATE = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;

/** Send one message: signed bytes on a WebSocket, a LocalFrame to an in-process peer. */
export function sendMessage(socket: MessageSocket, msg: Message, key: SigningKey, opts: CodecOptions = {}): void {
  if (socket.sendLocal) socket.sendLocal(encodeLocal(msg, opts));
  else socket.send(encodeMessage(msg, key, opts), { binary: true });
}
