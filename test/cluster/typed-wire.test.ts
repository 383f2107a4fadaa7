/**
 * The wire is typed end to end: the TypeScript compiler rejects a message
 * whose content does not match its type, content read without narrowing, and
 * a request whose reply is read as the wrong type; the type guards narrow at
 * run time as they claim.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeMessages, encodeMessage, generateKey, isMessageOf, makeBatch, makeMessage, onMessageType, type Message } from '../../cluster/protocol';

const ROOT = path.resolve(__dirname, '..', '..');

/** Type-check `source` (a file beside cluster/) with the project's compiler options; the error lines by their marker comment. */
function typeErrors(source: string): { line: string; code: string }[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-typed-wire-'));
  const file = path.join(dir, 'probe.ts');
  fs.writeFileSync(file, source.replaceAll('PROTOCOL', path.join(ROOT, 'cluster', 'protocol')));
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'ES2022', '--module', 'Node16', '--moduleResolution', 'Node16', '--types', 'node', '--skipLibCheck', file], {
    encoding: 'utf8',
    cwd: ROOT,
  });
  fs.rmSync(dir, { recursive: true, force: true });
  const lines = source.split('\n');
  return [...r.stdout.matchAll(/probe\.ts\((\d+),\d+\): error (TS\d+)/g)].map((m) => ({ line: lines[Number(m[1]) - 1].split('// ')[1] ?? '?', code: m[2] }));
}

test('the compiler checks message content, narrowing and reply types', () => {
  const errors = typeErrors(`
import { isMessageOf, makeMessage, onMessageType, type Message, type ReplyTypes } from 'PROTOCOL';
makeMessage('task_started', { task_id: 't1' });
makeMessage('task_started', { task_id: 1 }); // wrong field type
makeMessage('task_result', { task_id: 't1' }); // missing status
makeMessage('heartbeat_reply', { extra: true }); // content where none belongs
makeMessage('no_such_type', {}); // unknown type
declare const msg: Message;
msg.content.task_id; // read without narrowing
if (isMessageOf(msg, 'task_result')) { const status: 'ok' | 'error' | 'cancelled' = msg.content.status; void status; }
onMessageType(msg, { task_stream: (m) => m.content.text.toUpperCase(), engine_event: (m) => m.content.text }); // no text on engine_event
const reply: ReplyTypes['cancel_request'] = 'cancel_reply';
const wrong: ReplyTypes['cancel_request'] = 'submit_reply'; // not the reply of cancel_request
void reply; void wrong;
`);
  assert.deepEqual(
    errors.map((e) => e.line),
    ['wrong field type', 'missing status', 'content where none belongs', 'unknown type', 'read without narrowing', 'no text on engine_event', 'not the reply of cancel_request'],
    JSON.stringify(errors),
  );
});

test('isMessageOf and onMessageType narrow decoded messages, batch items included', () => {
  const key = generateKey();
  const batch = makeBatch([makeMessage('task_started', { task_id: 'a' }), makeMessage('task_stream', { task_id: 'a', name: 'stdout', text: 'hi\n' }), makeMessage('heartbeat', { running: 2 })]);
  const received: Message[] = decodeMessages(encodeMessage(batch, key), key);
  assert.deepEqual(received.map((m) => isMessageOf(m, 'task_stream')), [false, true, false]);
  const seen: string[] = [];
  for (const m of received) {
    const handled = onMessageType(m, { task_started: (s) => seen.push(`started ${s.content.task_id}`), task_stream: (s) => seen.push(`${s.content.name} ${s.content.text.trim()}`) });
    if (!handled) seen.push(`unhandled ${m.header.msg_type}`);
  }
  assert.deepEqual(seen, ['started a', 'stdout hi', 'unhandled heartbeat']);
});
