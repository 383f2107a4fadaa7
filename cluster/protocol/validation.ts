/**
 * Checks a decoded message before anyone acts on it: the envelope (header
 * fields, protocol version, known type) and the required content fields of
 * each message type, including every item of a batch.
 */
import type { BatchItem } from './content';
import { KNOWN_TYPES, PROTOCOL_VERSION, isMessageType, type Header, type MessageType } from './envelope';
import { ProtocolError } from './errors';

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkEnvelope(header: any, parent: unknown, metadata: unknown, content: unknown): asserts header is Header {
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
  auth: [['nonce', 'string'], ['challenge', 'string']],
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

export function checkContent(type: MessageType, content: Record<string, unknown>, bufferCount: number): void {
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
