/**
 * The hpcdl cluster wire format. This is the only module that knows how bytes
 * on a WebSocket map to messages; controller, engines and clients all go
 * through it. It imports nothing else from cluster/.
 *
 * One WebSocket binary message = one protocol message:
 *
 *   offset 0   4 bytes   magic "HPDL"
 *          4   1 byte    framing version (1)
 *          5   1 byte    flags (0)
 *          6   2 bytes   frame count F (uint16 LE), F >= 4
 *          8  32 bytes   HMAC-SHA256 signature (raw bytes)
 *         40  4*F bytes  frame lengths (uint32 LE)
 *         ..             frames, each starting on an 8-byte boundary:
 *                        JSON(header), JSON(parent_header), JSON(metadata),
 *                        JSON(content), buffer 0, buffer 1, ...
 *
 * The signature covers bytes [0, 8) and everything from offset 40 on, i.e. the
 * frame table and every frame including the binary buffers, so a tampered
 * payload is detected, not only a tampered header.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const PROTOCOL_VERSION = '1.0';
const FRAMING_VERSION = 1;
const MAGIC = 0x4c445048; // "HPDL" read as uint32 LE
const PREFIX_BYTES = 40;
const SIGNATURE_BYTES = 32;
const ENVELOPE_FRAMES = 4;
const MAX_FRAMES = 0xffff;

/** Default maximum encoded message size: 256 MiB (override with HPCDL_MAX_MESSAGE_BYTES). */
export const MAX_MESSAGE_BYTES = parseMaxBytes(process.env.HPCDL_MAX_MESSAGE_BYTES) ?? 256 * 1024 * 1024;

function parseMaxBytes(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : undefined;
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
  if (code === CLOSE_CODES.unregistered) return `controller at ${url} unregistered this peer: ${reason || 'no detail'}`;
  return `connection to controller at ${url} closed (code ${code}${reason ? `: ${reason}` : ''})`;
}

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

/** Every message type on the wire. `batch` wraps several messages in one frame set. */
export const MESSAGE_TYPES = [
  ...new Set([...ENGINE_TO_CONTROLLER, ...CONTROLLER_TO_ENGINE, ...CLIENT_TO_CONTROLLER, ...CONTROLLER_TO_CLIENT, 'batch' as const]),
] as const;

export type MessageType =
  | (typeof ENGINE_TO_CONTROLLER)[number]
  | (typeof CONTROLLER_TO_ENGINE)[number]
  | (typeof CLIENT_TO_CONTROLLER)[number]
  | (typeof CONTROLLER_TO_CLIENT)[number]
  | 'batch';

const KNOWN_TYPES: ReadonlySet<string> = new Set<string>(MESSAGE_TYPES);

export function isMessageType(value: unknown): value is MessageType {
  return typeof value === 'string' && KNOWN_TYPES.has(value);
}

export interface Header {
  msg_id: string;
  msg_type: MessageType;
  session: string;
  date: string;
  version: string;
}

export interface Message<C = any> {
  header: Header;
  /** The header of the message this one answers, or `{}`. */
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: C;
  /** Raw binary frames; packed values in `content` refer to them by index. */
  buffers: Uint8Array[];
}

export type ProtocolErrorReason = 'signature' | 'malformed' | 'unknown_type' | 'too_large' | 'version';

export class ProtocolError extends Error {
  constructor(
    readonly reason: ProtocolErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

// ---------------------------------------------------------------------------
// Content shapes (documented in docs/cluster-protocol.md)
// ---------------------------------------------------------------------------

export interface GpuInfo {
  index: number;
  name: string;
  memory_bytes: number;
}

export interface EngineResources {
  cpus: number;
  memory_bytes: number;
  gpus: GpuInfo[];
}

export interface ResourceRequest {
  gpus?: number;
  cpus?: number;
  memory_bytes?: number;
}

export interface RegisterRequest {
  host: string;
  pid: number;
  slots: number;
  resources: EngineResources;
  labels?: Record<string, string>;
  /** Stable per engine process; lets the controller recognise a reconnect. */
  engine_uuid: string;
  /** The id this engine had before the controller restarted, if any. */
  previous_id?: number;
  /** Task ids the engine is still running (sent on reconnect after a controller restart). */
  running?: string[];
}

export interface RegisterReply {
  engine_id: number;
  heartbeat_ms: number;
  cluster_id: string;
}

/** `heartbeat` content (engine → controller); `heartbeat_reply` is `{}`. */
export interface Heartbeat {
  running: number;
}

export type TaskKind = 'module' | 'source';

/** A packed value as it sits inside message content; see packInto / unpackFrom. */
export interface PackedRef {
  /** JSON with `{"$buf": k, ...}` markers; k indexes into `$b`. */
  $v: unknown;
  /** Indexes of this value's buffers in the message's `buffers` array. */
  $b: number[];
}

/**
 * controller → engine. The controller may send more task_requests than the
 * engine has slots (prefetch, for throughput): the engine queues them in order
 * and runs at most `slots` at once, sending task_started when one starts.
 * Several task_requests usually arrive in one `batch`.
 */
export interface TaskRequest {
  task_id: string;
  kind: TaskKind;
  /** Absolute path or package specifier of the module (kind 'module'). */
  module?: string;
  /** Export name to call (kind 'module'; default 'default'). */
  export?: string;
  /** Self-contained function source, e.g. `(a, b) => a + b` (kind 'source'). */
  source?: string;
  /** Packed array of arguments. */
  args: PackedRef;
  timeout_ms?: number;
  /** 1 for the first attempt, incremented on each retry. */
  attempt?: number;
}

export interface TaskStarted {
  task_id: string;
}

export interface TaskStream {
  task_id: string;
  name: 'stdout' | 'stderr';
  text: string;
  /** Set by the controller when relaying to clients. */
  engine_id?: number;
}

export interface TaskReport {
  task_id: string;
  data: Record<string, unknown>;
  engine_id?: number;
}

export interface TaskErrorInfo {
  ename: string;
  evalue: string;
  traceback: string[];
  engine_id?: number;
  host?: string;
}

export type TaskResultStatus = 'ok' | 'error' | 'cancelled';

export interface TaskResult {
  task_id: string;
  status: TaskResultStatus;
  value?: PackedRef;
  error?: TaskErrorInfo;
  /** Set by the controller when relaying to clients. */
  engine_id?: number;
  started_ms?: number;
  finished_ms?: number;
}

export interface TaskCancel {
  task_id: string;
}

export interface ResourceSample {
  time_ms: number;
  [key: string]: unknown;
}

export interface ResourcesContent {
  sample: ResourceSample;
  /** Set by the controller when relaying to clients. */
  engine_id?: number;
}

export interface ConnectRequest {
  client_session: string;
}

export interface EngineSummary {
  engine_id: number;
  host: string;
  pid: number;
  slots: number;
  running: number;
  resources: EngineResources;
  labels: Record<string, string>;
  state: 'alive' | 'dead';
}

export interface ConnectReply {
  cluster_id: string;
  engines: EngineSummary[];
}

export type TaskTargets = number[] | 'all' | null;

export interface TaskSubmission {
  task_id: string;
  kind: TaskKind;
  module?: string;
  export?: string;
  source?: string;
  args: PackedRef;
  /** Engine ids, 'all' (one copy per engine: ids become `<task_id>@<engine_id>`), or null / absent = load-balanced. */
  targets?: TaskTargets;
  retries?: number;
  timeout_ms?: number;
  resources?: ResourceRequest;
  after?: string[];
}

export interface SubmitRequest {
  tasks: TaskSubmission[];
}

export interface SubmitReply {
  accepted: string[];
  rejected: { task_id: string; reason: string }[];
}

export interface CancelRequest {
  task_ids: string[];
}

export interface CancelReply {
  cancelled: string[];
  unknown: string[];
}

export interface ResultRequest {
  task_ids: string[];
}

/** result_reply: finished results are sent as task_result messages (in a batch) before this reply. */
export interface ResultReply {
  pending: string[];
  unknown: string[];
}

export type TaskState = 'waiting' | 'queued' | 'running' | 'done' | 'error' | 'cancelled';

export interface TaskStatusContent {
  task_id: string;
  state: TaskState;
  engine_id?: number;
  attempt?: number;
}

export type SubscribeTopic = 'resources' | 'reports' | 'streams' | 'engines' | 'status';

export interface SubscribeRequest {
  topics: SubscribeTopic[];
  /** Restrict reports/streams/status to these tasks; absent = all tasks. */
  task_ids?: string[];
  /** Replay the bounded history of these topics on subscribe. */
  history?: boolean;
}

export interface EngineEvent {
  event: 'registered' | 'died' | 'unregistered';
  engine_id: number;
  host: string;
  reason?: string;
}

export interface ErrorContent {
  ename: string;
  evalue: string;
}

// ---------------------------------------------------------------------------
// Building, encoding and decoding
// ---------------------------------------------------------------------------

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

export function makeMessage<C>(type: MessageType, content: C, opts: MakeMessageOptions = {}): Message<C> {
  if (!KNOWN_TYPES.has(type)) throw new ProtocolError('unknown_type', `makeMessage: unknown message type '${String(type)}'`);
  const session = opts.session ?? defaultSession;
  messageCounter += 1;
  return {
    header: { msg_id: `${session}:${messageCounter}`, msg_type: type, session, date: new Date().toISOString(), version: PROTOCOL_VERSION },
    parent_header: opts.parent ?? {},
    metadata: opts.metadata ?? {},
    content,
    buffers: opts.buffers ?? [],
  };
}

export type Key = string | Uint8Array;

function keyBytes(key: Key): Uint8Array {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/** A fresh random cluster key (hex string, as stored in the connection file). */
export function generateKey(): string {
  return randomBytes(32).toString('hex');
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function sign(key: Key, data: Uint8Array, tableStart: number): Buffer {
  const hmac = createHmac('sha256', keyBytes(key));
  hmac.update(data.subarray(0, 8));
  hmac.update(data.subarray(tableStart));
  return hmac.digest();
}

export interface CodecOptions {
  maxBytes?: number;
}

/** Encode and sign a message. Throws ProtocolError('too_large') above the size limit. */
export function encodeMessage(msg: Message, key: Key, opts: CodecOptions = {}): Buffer {
  const maxBytes = opts.maxBytes ?? MAX_MESSAGE_BYTES;
  const frames: Uint8Array[] = [
    Buffer.from(JSON.stringify(msg.header), 'utf8'),
    Buffer.from(JSON.stringify(msg.parent_header ?? {}), 'utf8'),
    Buffer.from(JSON.stringify(msg.metadata ?? {}), 'utf8'),
    Buffer.from(JSON.stringify(msg.content ?? {}), 'utf8'),
    ...(msg.buffers ?? []),
  ];
  if (frames.length > MAX_FRAMES) throw new ProtocolError('too_large', `message has ${frames.length} frames; the limit is ${MAX_FRAMES}`);
  const tableStart = PREFIX_BYTES;
  let offset = align8(tableStart + 4 * frames.length);
  const offsets = new Array<number>(frames.length);
  for (let i = 0; i < frames.length; i++) {
    offsets[i] = offset;
    offset = align8(offset + frames[i].byteLength);
  }
  const total = offset;
  if (total > maxBytes) {
    throw new ProtocolError('too_large', `${msg.header.msg_type} message is ${total} bytes; the limit is ${maxBytes}`);
  }
  const out = Buffer.alloc(total);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt8(FRAMING_VERSION, 4);
  out.writeUInt8(0, 5);
  out.writeUInt16LE(frames.length, 6);
  for (let i = 0; i < frames.length; i++) {
    out.writeUInt32LE(frames[i].byteLength, tableStart + 4 * i);
    out.set(frames[i], offsets[i]);
  }
  sign(key, out, tableStart).copy(out, 8);
  return out;
}

function toBuffer(data: Uint8Array | ArrayBuffer | Buffer[]): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  if (data instanceof ArrayBuffer) return Buffer.from(data);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

function parseJsonFrame(frame: Buffer, what: string): any {
  try {
    return JSON.parse(frame.toString('utf8'));
  } catch (err) {
    throw new ProtocolError('malformed', `${what} frame is not valid JSON (${(err as Error).message})`);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Verify and decode one wire message. Throws ProtocolError with the reason:
 * too_large, malformed (bad framing / JSON / envelope), signature (missing or
 * wrong HMAC), version (incompatible protocol major version), unknown_type.
 * The signature is checked before any JSON is parsed.
 */
export function decodeMessage(raw: Uint8Array | ArrayBuffer | Buffer[], key: Key, opts: CodecOptions = {}): Message {
  const maxBytes = opts.maxBytes ?? MAX_MESSAGE_BYTES;
  const data = toBuffer(raw);
  if (data.length > maxBytes) throw new ProtocolError('too_large', `message is ${data.length} bytes; the limit is ${maxBytes}`);
  if (data.length < PREFIX_BYTES + 4 * ENVELOPE_FRAMES) {
    throw new ProtocolError('malformed', `message is ${data.length} bytes, shorter than the smallest valid message`);
  }
  if (data.readUInt32LE(0) !== MAGIC) throw new ProtocolError('malformed', 'message does not start with the hpcdl magic "HPDL"');
  if (data.readUInt8(4) !== FRAMING_VERSION) {
    throw new ProtocolError('version', `framing version ${data.readUInt8(4)} is not supported (expected ${FRAMING_VERSION})`);
  }
  const frameCount = data.readUInt16LE(6);
  if (frameCount < ENVELOPE_FRAMES) throw new ProtocolError('malformed', `message has ${frameCount} frames; at least ${ENVELOPE_FRAMES} are required`);
  const tableStart = PREFIX_BYTES;
  const tableEnd = tableStart + 4 * frameCount;
  if (tableEnd > data.length) throw new ProtocolError('malformed', `frame table of ${frameCount} entries runs past the end of the message`);

  const signature = data.subarray(8, 8 + SIGNATURE_BYTES);
  if (signature.every((b) => b === 0)) throw new ProtocolError('signature', 'message is not signed');
  const expected = sign(key, data, tableStart);
  if (!timingSafeEqual(signature, expected)) throw new ProtocolError('signature', 'message signature does not match (wrong key or tampered message)');

  const frames: Buffer[] = new Array(frameCount);
  let offset = align8(tableEnd);
  for (let i = 0; i < frameCount; i++) {
    const len = data.readUInt32LE(tableStart + 4 * i);
    if (offset + len > data.length) throw new ProtocolError('malformed', `frame ${i} (${len} bytes) runs past the end of the message`);
    frames[i] = data.subarray(offset, offset + len);
    offset = align8(offset + len);
  }

  const header = parseJsonFrame(frames[0], 'header');
  const parent = parseJsonFrame(frames[1], 'parent_header');
  const metadata = parseJsonFrame(frames[2], 'metadata');
  const content = parseJsonFrame(frames[3], 'content');
  checkEnvelope(header, parent, metadata, content);
  const msg: Message = { header, parent_header: parent, metadata, content, buffers: frames.slice(ENVELOPE_FRAMES) };
  checkContent(msg.header.msg_type, msg.content, msg.buffers.length);
  return msg;
}

function checkEnvelope(header: any, parent: unknown, metadata: unknown, content: unknown): asserts header is Header {
  if (!isPlainObject(header)) throw new ProtocolError('malformed', 'header is not a JSON object');
  for (const field of ['msg_id', 'msg_type', 'session', 'date'] as const) {
    if (typeof header[field] !== 'string') throw new ProtocolError('malformed', `header.${field} is missing or not a string`);
  }
  if (typeof header.version !== 'string') throw new ProtocolError('version', 'header.version is missing');
  if (majorOf(header.version) !== majorOf(PROTOCOL_VERSION)) {
    throw new ProtocolError('version', `protocol version ${header.version} is not compatible with ${PROTOCOL_VERSION}`);
  }
  if (!isPlainObject(parent)) throw new ProtocolError('malformed', 'parent_header is not a JSON object');
  if (!isPlainObject(metadata)) throw new ProtocolError('malformed', 'metadata is not a JSON object');
  if (!isPlainObject(content)) throw new ProtocolError('malformed', 'content is not a JSON object');
  if (!KNOWN_TYPES.has(String(header.msg_type))) throw new ProtocolError('unknown_type', `unknown message type '${String(header.msg_type)}'`);
}

function majorOf(version: string): string {
  return version.split('.')[0];
}

type FieldCheck = [field: string, kind: 'string' | 'number' | 'array' | 'object'];

/** Required content fields per type; anything not listed accepts any object. */
const REQUIRED_FIELDS: Partial<Record<MessageType, FieldCheck[]>> = {
  register_request: [['host', 'string'], ['pid', 'number'], ['slots', 'number'], ['resources', 'object'], ['engine_uuid', 'string']],
  register_reply: [['engine_id', 'number'], ['heartbeat_ms', 'number'], ['cluster_id', 'string']],
  task_request: [['task_id', 'string'], ['kind', 'string'], ['args', 'object']],
  task_started: [['task_id', 'string']],
  task_stream: [['task_id', 'string'], ['name', 'string'], ['text', 'string']],
  task_report: [['task_id', 'string'], ['data', 'object']],
  task_result: [['task_id', 'string'], ['status', 'string']],
  task_cancel: [['task_id', 'string']],
  resources: [['sample', 'object']],
  connect_request: [['client_session', 'string']],
  connect_reply: [['cluster_id', 'string'], ['engines', 'array']],
  submit_request: [['tasks', 'array']],
  submit_reply: [['accepted', 'array']],
  cancel_request: [['task_ids', 'array']],
  result_request: [['task_ids', 'array']],
  subscribe_request: [['topics', 'array']],
  task_status: [['task_id', 'string'], ['state', 'string']],
  engine_event: [['event', 'string'], ['engine_id', 'number']],
  batch: [['items', 'array']],
};

function kindOf(v: unknown): FieldCheck[1] | 'other' {
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (Array.isArray(v)) return 'array';
  if (isPlainObject(v)) return 'object';
  return 'other';
}

function checkContent(type: MessageType, content: Record<string, unknown>, bufferCount: number): void {
  const fields = REQUIRED_FIELDS[type];
  if (fields) {
    for (const [field, kind] of fields) {
      if (kindOf(content[field]) !== kind) {
        throw new ProtocolError('malformed', `${type}.content.${field} is missing or not a${kind === 'object' || kind === 'array' ? 'n' : ''} ${kind}`);
      }
    }
  }
  if (type === 'batch') checkBatchItems(content.items as unknown[], bufferCount);
}

function checkBatchItems(items: unknown[], bufferCount: number): void {
  let used = 0;
  for (let i = 0; i < items.length; i++) {
    const item = items[i] as BatchItem;
    if (!isPlainObject(item)) throw new ProtocolError('malformed', `batch.items[${i}] is not an object`);
    if (!isMessageType(item.t) || item.t === 'batch') throw new ProtocolError('unknown_type', `batch.items[${i}] has unknown message type '${String(item.t)}'`);
    if (!isPlainObject(item.c)) throw new ProtocolError('malformed', `batch.items[${i}].c (content) is not an object`);
    const nb = item.nb ?? 0;
    if (!Number.isInteger(nb) || nb < 0) throw new ProtocolError('malformed', `batch.items[${i}].nb is not a non-negative integer`);
    used += nb;
    checkContent(item.t, item.c, nb);
  }
  if (used !== bufferCount) throw new ProtocolError('malformed', `batch items claim ${used} buffers but the message has ${bufferCount}`);
}

// ---------------------------------------------------------------------------
// Batching: many small messages in one signed frame set
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Values: JSON plus binary buffers (typed arrays never travel as JSON numbers)
// ---------------------------------------------------------------------------

type TypedArray =
  | Int8Array
  | Uint8Array
  | Uint8ClampedArray
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

type TypedArrayCtor = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): TypedArray; BYTES_PER_ELEMENT: number };

const DTYPES: Record<string, TypedArrayCtor> = {
  int8: Int8Array,
  uint8: Uint8Array,
  uint8c: Uint8ClampedArray,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
};

function dtypeOf(v: ArrayBufferView): string | undefined {
  if (v instanceof Float32Array) return 'float32';
  if (v instanceof Float64Array) return 'float64';
  if (v instanceof Int32Array) return 'int32';
  if (v instanceof Uint8ClampedArray) return 'uint8c';
  if (Buffer.isBuffer(v)) return 'buffer';
  if (v instanceof Uint8Array) return 'uint8';
  if (v instanceof Int8Array) return 'int8';
  if (v instanceof Int16Array) return 'int16';
  if (v instanceof Uint16Array) return 'uint16';
  if (v instanceof Uint32Array) return 'uint32';
  if (v instanceof BigInt64Array) return 'int64';
  if (v instanceof BigUint64Array) return 'uint64';
  return undefined;
}

const MARKERS = new Set(['$buf', '$num', '$bigint', '$date', '$undef', '$obj', '$err']);

export interface PackedValue {
  json: unknown;
  buffers: Uint8Array[];
}

/**
 * Turn a value into JSON plus binary buffers. Typed arrays, Buffers,
 * ArrayBuffers and DataViews become `{"$buf": i, "dtype", "shape"}` and their
 * bytes are referenced, not copied. Also preserved: NaN/±Infinity, -0,
 * bigint, Date, undefined, Error, and objects whose keys start with `$`.
 */
export function packValue(value: unknown): PackedValue {
  const buffers: Uint8Array[] = [];
  const json = packInner(value, buffers, new Set());
  return { json, buffers };
}

function bytesOf(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function packInner(v: unknown, buffers: Uint8Array[], seen: Set<object>): unknown {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v;
    case 'number':
      if (Number.isFinite(v)) return Object.is(v, -0) ? { $num: '-0' } : v;
      return { $num: String(v) };
    case 'bigint':
      return { $bigint: v.toString() };
    case 'undefined':
      return { $undef: 1 };
    case 'function':
    case 'symbol':
      throw new TypeError(`packValue: cannot send a ${typeof v} over the wire`);
  }
  if (v === null) return null;
  const obj = v as object;
  if (ArrayBuffer.isView(obj)) {
    if (obj instanceof DataView) {
      buffers.push(bytesOf(obj));
      return { $buf: buffers.length - 1, dtype: 'dataview', shape: [obj.byteLength] };
    }
    const dtype = dtypeOf(obj);
    if (!dtype) throw new TypeError(`packValue: unsupported typed array ${obj.constructor.name}`);
    buffers.push(bytesOf(obj));
    return { $buf: buffers.length - 1, dtype, shape: [(obj as TypedArray).length] };
  }
  if (obj instanceof ArrayBuffer) {
    buffers.push(new Uint8Array(obj));
    return { $buf: buffers.length - 1, dtype: 'arraybuffer', shape: [obj.byteLength] };
  }
  if (seen.has(obj)) throw new TypeError('packValue: cannot send a value with a circular reference');
  seen.add(obj);
  try {
    if (Array.isArray(obj)) return obj.map((x) => packInner(x, buffers, seen));
    if (obj instanceof Date) return { $date: obj.toISOString() };
    if (obj instanceof Error) {
      return { $err: { name: obj.name, message: obj.message, stack: obj.stack ?? '' } };
    }
    if (obj instanceof Map || obj instanceof Set) {
      throw new TypeError(`packValue: ${obj.constructor.name} is not supported; convert it to an array or object first`);
    }
    return packObject(obj as Record<string, unknown>, buffers, seen);
  } finally {
    seen.delete(obj);
  }
}

function packObject(obj: Record<string, unknown>, buffers: Uint8Array[], seen: Set<object>): unknown {
  const keys = Object.keys(obj);
  if (keys.some((k) => k.startsWith('$'))) {
    return { $obj: keys.map((k) => [k, packInner(obj[k], buffers, seen)]) };
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = packInner(obj[k], buffers, seen);
  return out;
}

/** Inverse of packValue. Typed arrays view the received bytes when aligned (zero copy), else copy. */
export function unpackValue(json: unknown, buffers: Uint8Array[]): unknown {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map((x) => unpackValue(x, buffers));
  const o = json as Record<string, any>;
  const keys = Object.keys(o);
  if (keys.length > 0 && MARKERS.has(keys[0])) return unpackMarker(keys[0], o, buffers);
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = unpackValue(o[k], buffers);
  return out;
}

function unpackMarker(marker: string, o: Record<string, any>, buffers: Uint8Array[]): unknown {
  switch (marker) {
    case '$buf':
      return unpackBuffer(o, buffers);
    case '$num':
      return o.$num === '-0' ? -0 : Number(o.$num);
    case '$bigint':
      return BigInt(o.$bigint);
    case '$date':
      return new Date(o.$date);
    case '$undef':
      return undefined;
    case '$err': {
      const e = new Error(String(o.$err?.message ?? ''));
      e.name = String(o.$err?.name ?? 'Error');
      if (o.$err?.stack) e.stack = String(o.$err.stack);
      return e;
    }
    case '$obj': {
      const out: Record<string, unknown> = {};
      for (const [k, v] of o.$obj as [string, unknown][]) out[k] = unpackValue(v, buffers);
      return out;
    }
  }
  throw new ProtocolError('malformed', `unknown value marker ${marker}`);
}

function unpackBuffer(o: Record<string, any>, buffers: Uint8Array[]): unknown {
  const index = o.$buf;
  if (!Number.isInteger(index) || index < 0 || index >= buffers.length) {
    throw new ProtocolError('malformed', `value refers to buffer ${index} but the message has ${buffers.length}`);
  }
  const bytes = buffers[index];
  const dtype = String(o.dtype);
  if (dtype === 'buffer') return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'arraybuffer') return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  if (dtype === 'dataview') return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const Ctor = DTYPES[dtype];
  if (!Ctor) throw new ProtocolError('malformed', `unknown dtype '${dtype}' for buffer ${index}`);
  const size = Ctor.BYTES_PER_ELEMENT;
  if (bytes.byteLength % size !== 0) {
    throw new ProtocolError('malformed', `buffer ${index} has ${bytes.byteLength} bytes, not a multiple of ${size} (${dtype})`);
  }
  if (bytes.byteOffset % size === 0) return new Ctor(bytes.buffer, bytes.byteOffset, bytes.byteLength / size);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return new Ctor(copy.buffer, 0, bytes.byteLength / size);
}

/**
 * Pack `value` for use inside message content: its buffers are appended to
 * `messageBuffers` and the returned ref records their indexes.
 */
export function packInto(value: unknown, messageBuffers: Uint8Array[]): PackedRef {
  const { json, buffers } = packValue(value);
  const indexes = new Array<number>(buffers.length);
  for (let i = 0; i < buffers.length; i++) {
    indexes[i] = messageBuffers.length;
    messageBuffers.push(buffers[i]);
  }
  return { $v: json, $b: indexes };
}

/** Read a PackedRef out of a received message's buffers. */
export function unpackFrom(ref: PackedRef | undefined, messageBuffers: Uint8Array[]): unknown {
  if (ref === undefined || ref === null) return undefined;
  if (!isPlainObject(ref) || !Array.isArray(ref.$b)) throw new ProtocolError('malformed', 'packed value is not {$v, $b}');
  const own = ref.$b.map((i) => {
    if (!Number.isInteger(i) || i < 0 || i >= messageBuffers.length) {
      throw new ProtocolError('malformed', `packed value refers to buffer ${i} but the message has ${messageBuffers.length}`);
    }
    return messageBuffers[i];
  });
  return unpackValue(ref.$v, own);
}

/**
 * Move a packed value from one message to another without touching its JSON
 * or copying bytes: the controller relays arguments and results this way.
 */
export function relocatePacked(ref: PackedRef | undefined, from: Uint8Array[], to: Uint8Array[]): PackedRef | undefined {
  if (ref === undefined || ref === null) return ref;
  if (ref.$b.length === 0) return ref;
  const indexes = ref.$b.map((i) => {
    const b = from[i];
    if (b === undefined) throw new ProtocolError('malformed', `packed value refers to buffer ${i} but the message has ${from.length}`);
    to.push(b);
    return to.length - 1;
  });
  return { $v: ref.$v, $b: indexes };
}

/** The buffers a packed ref points at (for storing a result apart from its message). */
export function buffersOf(ref: PackedRef | undefined, from: Uint8Array[]): Uint8Array[] {
  if (!ref || ref.$b.length === 0) return [];
  return ref.$b.map((i) => from[i]);
}

/** A packed ref over standalone buffers: `$b` = 0..n-1. */
export function standalonePacked(ref: PackedRef | undefined, from: Uint8Array[]): { ref: PackedRef | undefined; buffers: Uint8Array[] } {
  if (!ref) return { ref, buffers: [] };
  const buffers = buffersOf(ref, from);
  return { ref: { $v: ref.$v, $b: buffers.map((_, i) => i) }, buffers };
}

// ---------------------------------------------------------------------------
// Connection files: how engines and clients find and authenticate to a controller
// ---------------------------------------------------------------------------

/** `<profile>/clusters/<cluster_id>.json`, mode 0600, written by the controller. */
export interface ConnectionInfo {
  /** ws://host:port the engines and clients connect to */
  url: string;
  cluster_id: string;
  /** per-cluster HMAC-SHA256 key (hex string; the UTF-8 bytes of this string are the key) */
  key: string;
  signature_scheme: 'hmac-sha256';
  protocol_version: string;
  /** controller process id */
  pid: number;
  /** http://host:port/ dashboard and REST API (same server as the WebSocket) */
  dashboard_url: string;
  created: string;
}

/** The hpcdl profile directory: explicit dir, else $HPCDL_HOME, else ~/.hpcdl. */
export function hpcdlHome(profileDir?: string): string {
  return path.resolve(profileDir ?? process.env.HPCDL_HOME ?? path.join(os.homedir(), '.hpcdl'));
}

export function connectionFilePath(clusterId: string, profileDir?: string): string {
  return path.join(hpcdlHome(profileDir), 'clusters', `${clusterId}.json`);
}

/** A path (anything with a slash or ending in .json, or an existing file) or a cluster id. */
export function resolveConnectionFile(fileOrId: string, profileDir?: string): string {
  if (fileOrId.includes('/') || fileOrId.endsWith('.json') || fs.existsSync(fileOrId)) return path.resolve(fileOrId);
  return connectionFilePath(fileOrId, profileDir);
}

/** Read and check a connection file; errors name the file and the field at fault. */
export function readConnectionFile(fileOrId: string, profileDir?: string): ConnectionInfo {
  const file = resolveConnectionFile(fileOrId, profileDir);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`connection file ${file} does not exist (is the controller running? start one with \`hpcdl controller\`)`);
    throw new Error(`cannot read connection file ${file}: ${(err as Error).message}`);
  }
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`connection file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  for (const field of ['url', 'cluster_id', 'key'] as const) {
    if (typeof raw?.[field] !== 'string' || raw[field] === '') throw new Error(`connection file ${file}: ${field} is missing or not a string`);
  }
  if (!/^wss?:\/\//.test(raw.url)) throw new Error(`connection file ${file}: url must start with ws:// or wss://, got ${JSON.stringify(raw.url)}`);
  return {
    url: raw.url,
    cluster_id: raw.cluster_id,
    key: raw.key,
    signature_scheme: 'hmac-sha256',
    protocol_version: String(raw.protocol_version ?? PROTOCOL_VERSION),
    pid: Number(raw.pid ?? 0),
    dashboard_url: String(raw.dashboard_url ?? raw.url.replace(/^ws/, 'http')),
    created: String(raw.created ?? ''),
  };
}

/** Write a connection file atomically with mode 0600 (directory 0700). */
export function writeConnectionFile(file: string, info: ConnectionInfo): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
