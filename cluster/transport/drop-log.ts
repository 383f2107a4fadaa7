/**
 * The one wording of "input from the other side was dropped" in log lines,
 * for every transport: a WebSocket frame that failed to decode or verify
 * (./peer.ts), a TCP connection that did not authenticate (the rank links).
 */
export function droppedLine(prefix: string, what: string, from: string, reason: string): string {
  return `${prefix} dropped ${what} from ${from}: ${reason}`;
}
