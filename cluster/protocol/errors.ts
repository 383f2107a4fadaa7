/** Protocol errors and the WebSocket close codes a controller uses to explain a refusal. */

export type ProtocolErrorReason = 'signature' | 'malformed' | 'unknown_type' | 'too_large' | 'version' | 'replay';

export class ProtocolError extends Error {
  constructor(
    readonly reason: ProtocolErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

/** WebSocket close codes the controller uses so peers can explain a refusal. */
export const CLOSE_CODES = {
  /** The first message from the peer failed the signature check: wrong key. */
  authError: 4001,
  /** The peer speaks an incompatible protocol version. */
  versionMismatch: 4002,
  /** The controller is shutting down on request. */
  shutdown: 4003,
  /** The engine was told to go away (e.g. replaced, or heartbeat lost). */
  unregistered: 4004,
  /** The peer broke a rule before it authenticated (too big, too slow, a bad or replayed first frame, too many such connections). */
  unauthenticated: 4005,
} as const;

/** The human sentence a client or engine raises when the controller closes with `code`. */
export function describeClose(url: string, code: number, reason: string): string {
  if (code === CLOSE_CODES.authError) {
    return `controller at ${url} refused the connection: bad key (check the connection file)`;
  }
  if (code === CLOSE_CODES.versionMismatch) {
    return `controller at ${url} refused the connection: protocol version mismatch (${reason || 'no detail'})`;
  }
  if (code === CLOSE_CODES.shutdown) return `controller at ${url} shut down`;
  if (code === CLOSE_CODES.unauthenticated) return `controller at ${url} closed the connection before it authenticated: ${reason || 'no detail'}`;
  if (code === CLOSE_CODES.unregistered) return `controller at ${url} unregistered this peer: ${reason || 'no detail'}`;
  return `connection to controller at ${url} closed (code ${code}${reason ? `: ${reason}` : ''})`;
}
