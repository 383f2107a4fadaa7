/**
 * The message envelope: the list of message types each side may send, the
 * header every message carries, and makeMessage to build one.
 */
import { randomBytes } from 'node:crypto';
import type { ContentMap } from './content';
import { ProtocolError } from './errors';

/** 2.0: every WebSocket connection starts with the challenge handshake (./handshake.ts); a 1.x peer is refused as a version mismatch. */
export const PROTOCOL_VERSION = '2.0';

export const ENGINE_TO_CONTROLLER = [
  'register_request',
  'heartbeat',
  'task_started',
  'task_stream',
  'task_report',
  'task_result',
  'resources',
  'engine_shutdown',
] as const;

export const CONTROLLER_TO_ENGINE = ['register_reply', 'heartbeat_reply', 'task_request', 'task_cancel', 'shutdown_request'] as const;

export const CLIENT_TO_CONTROLLER = [
  'connect_request',
  'submit_request',
  'cancel_request',
  'result_request',
  'status_request',
  'subscribe_request',
  'unsubscribe_request',
  'engines_request',
  'shutdown_request',
] as const;

export const CONTROLLER_TO_CLIENT = [
  'connect_reply',
  'submit_reply',
  'cancel_reply',
  'result_reply',
  'status_reply',
  'subscribe_reply',
  'engines_reply',
  'shutdown_reply',
  'task_status',
  'task_stream',
  'task_report',
  'task_result',
  'engine_event',
  'resources',
  'error',
] as const;

/** The dialer's answer to the acceptor's challenge, the first message of every WebSocket connection (./handshake.ts). */
export const HANDSHAKE = ['auth'] as const;

/** Every message type on the wire. `batch` wraps several messages in one frame set. */
export const MESSAGE_TYPES = [
  ...new Set([...HANDSHAKE, ...ENGINE_TO_CONTROLLER, ...CONTROLLER_TO_ENGINE, ...CLIENT_TO_CONTROLLER, ...CONTROLLER_TO_CLIENT, 'batch' as const]),
] as const;

export type MessageType =
  | (typeof HANDSHAKE)[number]
  | (typeof ENGINE_TO_CONTROLLER)[number]
  | (typeof CONTROLLER_TO_ENGINE)[number]
  | (typeof CLIENT_TO_CONTROLLER)[number]
  | (typeof CONTROLLER_TO_CLIENT)[number]
  | 'batch';

export const KNOWN_TYPES: ReadonlySet<string> = new Set<string>(MESSAGE_TYPES);

export function isMessageType(value: unknown): value is MessageType {
  return typeof value === 'string' && KNOWN_TYPES.has(value);
}

export interface Header<T extends MessageType = MessageType> {
  msg_id: string;
  msg_type: T;
  session: string;
  date: string;
  version: string;
}

/** One message of type T: its content is ContentMap[T]. */
export interface Envelope<T extends MessageType> {
  header: Header<T>;
  /** The header of the message this one answers, or `{}`. */
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: ContentMap[T];
  /** Raw binary frames; packed values in `content` refer to them by index. */
  buffers: Uint8Array[];
}

/**
 * A message of one of the types T (default: any type), as a discriminated
 * union on `header.msg_type`. TypeScript does not narrow a union on a nested
 * field, so narrow with `isMessageOf` or dispatch with `onMessageType`.
 */
export type Message<T extends MessageType = MessageType> = { [K in T]: Envelope<K> }[T];

/** Type guard: `msg` is of type `type` (its content is then typed). */
export function isMessageOf<T extends MessageType>(msg: Message, type: T): msg is Extract<Message, { header: { msg_type: T } }> {
  return msg.header.msg_type === type;
}

/** One handler per message type, each receiving its own typed message. */
export type MessageHandlers = { [K in MessageType]?: (msg: Message<K>) => void };

/** Call the handler of `msg`'s type; false when there is none. */
export function onMessageType(msg: Message, handlers: MessageHandlers): boolean {
  const handler = handlers[msg.header.msg_type] as ((m: Message) => void) | undefined;
  if (!handler) return false;
  handler(msg);
  return true;
}

let sessionCounter = 0;
const processSession = randomBytes(6).toString('hex');

/** A session id unique to this process and call. */
export function newSession(): string {
  sessionCounter += 1;
  return `${processSession}-${sessionCounter}`;
}

let messageCounter = 0;
const defaultSession = newSession();

export interface MakeMessageOptions {
  session?: string;
  parent?: Header | Partial<Header>;
  metadata?: Record<string, unknown>;
  buffers?: Uint8Array[];
}

/** Build a message; its content is checked against the type at compile time. */
export function makeMessage<T extends MessageType>(type: T, content: ContentMap[T], opts: MakeMessageOptions = {}): Message<T> {
  if (!KNOWN_TYPES.has(type)) throw new ProtocolError('unknown_type', `makeMessage: unknown message type '${String(type)}'`);
  const session = opts.session ?? defaultSession;
  messageCounter += 1;
  const msg: Envelope<T> = {
    header: { msg_id: `${session}:${messageCounter}`, msg_type: type, session, date: new Date().toISOString(), version: PROTOCOL_VERSION },
    parent_header: opts.parent ?? {},
    metadata: opts.metadata ?? {},
    content,
    buffers: opts.buffers ?? [],
  };
  return msg as Message<T>;
}
