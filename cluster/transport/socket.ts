/**
 * What the controller and the client need from a connection: the subset of a
 * `ws` WebSocket they use. A `ws` socket satisfies it as is; so does one end of
 * an in-process pair (./in-process.ts), which carries the same signed frames
 * without a TCP round trip when the controller runs in the client's process.
 */
export interface MessageSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: Buffer | Uint8Array, options?: { binary?: boolean }): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open', listener: () => void): this;
  on(event: 'message', listener: (data: Buffer, isBinary: boolean) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): this;
}

/** WebSocket ready states (the same numbers as `ws` and the browser). */
export const SOCKET_STATE = { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 } as const;
