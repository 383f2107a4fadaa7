import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MESSAGE_TYPES,
  MessageBatcher,
  PROTOCOL_VERSION,
  ProtocolError,
  decodeMessage,
  decodeLocal,
  decodeMessages,
  encodeLocal,
  encodeMessage,
  expandBatch,
  generateKey,
  makeBatch,
  makeMessage,
  packInto,
  packValue,
  relocatePacked,
  unpackFrom,
  unpackValue,
  type Message,
  type ProtocolErrorReason,
} from '../../cluster/protocol';

const KEY = generateKey();

function rejects(fn: () => unknown, reason: ProtocolErrorReason, pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ProtocolError, `expected ProtocolError, got ${String(err)}`);
    assert.equal(err.reason, reason, `reason for "${err.message}"`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

/** Re-sign a hand-modified encoding so only the intended defect remains. */
function encodeRaw(frames: Buffer[], key = KEY): Buffer {
  // Lays the frames out as the documented framing does, so tests can sign arbitrary (bad) JSON.
  const { createHmac } = require('node:crypto') as typeof import('node:crypto');
  const align = (n: number) => (n + 7) & ~7;
  let off = align(40 + 4 * frames.length);
  const offsets = frames.map((f) => {
    const o = off;
    off = align(off + f.length);
    return o;
  });
  const out = Buffer.alloc(off);
  out.write('HPDL', 0, 'latin1');
  out.writeUInt8(1, 4);
  out.writeUInt16LE(frames.length, 6);
  frames.forEach((f, i) => {
    out.writeUInt32LE(f.length, 40 + 4 * i);
    f.copy(out, offsets[i]);
  });
  const h = createHmac('sha256', key);
  h.update(out.subarray(0, 8));
  h.update(out.subarray(40));
  h.digest().copy(out, 8);
  return out;
}

function jsonFrames(header: unknown, content: unknown = {}): Buffer[] {
  return [header, {}, {}, content].map((x) => Buffer.from(JSON.stringify(x)));
}

function validHeader(type = 'heartbeat'): Record<string, unknown> {
  return { msg_id: 'a:1', msg_type: type, session: 'a', date: new Date().toISOString(), version: PROTOCOL_VERSION };
}

test('roundtrip keeps header, parent, metadata, content and binary buffers', () => {
  const buffers: Uint8Array[] = [];
  const weights = new Float32Array([1.5, -2.25, 3e-8, Number.NaN]);
  const args = packInto([weights, { labels: new Int32Array([0, 1, 1]), nested: [{ raw: Buffer.from('hi') }] }, 'x', 7], buffers);
  const parent = makeMessage('connect_request', { client_session: 's' }).header;
  const msg = makeMessage('task_request', { task_id: 't1', kind: 'module', module: '/m.js', export: 'f', args }, { parent, metadata: { m: 1 }, buffers });
  const wire = encodeMessage(msg, KEY);
  const back = decodeMessage(wire, KEY);
  assert.deepEqual(back.header, msg.header);
  assert.deepEqual(back.parent_header, parent);
  assert.deepEqual(back.metadata, { m: 1 });
  assert.equal(back.content.task_id, 't1');
  assert.equal(back.buffers.length, 3);
  const [w, rest, s, n] = unpackFrom(back.content.args, back.buffers) as [Float32Array, any, string, number];
  assert.ok(w instanceof Float32Array);
  assert.deepEqual(Array.from(w.subarray(0, 3)), Array.from(weights.subarray(0, 3)));
  assert.ok(Number.isNaN(w[3]));
  assert.ok(rest.labels instanceof Int32Array);
  assert.deepEqual(Array.from(rest.labels), [0, 1, 1]);
  assert.ok(Buffer.isBuffer(rest.nested[0].raw));
  assert.equal(rest.nested[0].raw.toString(), 'hi');
  assert.equal(s, 'x');
  assert.equal(n, 7);
});

test('typed array bytes travel as buffers, never as JSON numbers', () => {
  const big = new Float64Array(1000).map((_, i) => i * 0.5);
  const { json, buffers } = packValue({ big });
  assert.equal(buffers.length, 1);
  assert.equal(buffers[0].byteLength, 8000);
  assert.ok(JSON.stringify(json).length < 100, JSON.stringify(json));
});

test('packValue/unpackValue preserve special values and every dtype', () => {
  const value = {
    nan: Number.NaN,
    inf: -Infinity,
    negZero: -0,
    big: 12345678901234567890n,
    date: new Date('2020-01-02T03:04:05.000Z'),
    undef: undefined,
    $weird: { $buf: 'not a buffer' },
    err: new RangeError('boom'),
    arrays: [
      new Int8Array([-1]), new Uint8Array([255]), new Uint8ClampedArray([9]), new Int16Array([-300]), new Uint16Array([65000]),
      new Int32Array([-7]), new Uint32Array([4e9]), new Float32Array([0.5]), new Float64Array([1e300]),
      new BigInt64Array([-5n]), new BigUint64Array([5n]),
    ],
    ab: new Uint8Array([1, 2, 3]).buffer,
  };
  const packed = packValue(value);
  const wire = encodeMessage(makeMessage('task_report', { task_id: 't', data: { v: packed.json } }, { buffers: packed.buffers }), KEY);
  const msg = decodeMessage(wire, KEY);
  const back = unpackValue(msg.content.data.v, msg.buffers) as any;
  assert.ok(Number.isNaN(back.nan));
  assert.equal(back.inf, -Infinity);
  assert.ok(Object.is(back.negZero, -0));
  assert.equal(back.big, value.big);
  assert.equal(back.date.toISOString(), value.date.toISOString());
  assert.ok('undef' in back && back.undef === undefined);
  assert.deepEqual(back.$weird, { $buf: 'not a buffer' });
  assert.ok(back.err instanceof Error);
  assert.equal(back.err.name, 'RangeError');
  assert.equal(back.err.message, 'boom');
  back.arrays.forEach((a: any, i: number) => {
    assert.equal(a.constructor, value.arrays[i].constructor);
    assert.deepEqual(Array.from(a), Array.from(value.arrays[i] as any));
  });
  assert.ok(back.ab instanceof ArrayBuffer);
  assert.deepEqual(Array.from(new Uint8Array(back.ab)), [1, 2, 3]);
});

test('packValue rejects functions and cycles with a clear error', () => {
  assert.throws(() => packValue({ f: () => 1 }), /cannot send a function/);
  const a: any = {};
  a.self = a;
  assert.throws(() => packValue(a), /circular/);
});

test('misaligned received bytes are copied into an aligned typed array', () => {
  const { json } = packValue(new Float32Array([1, 2]));
  const backing = new Uint8Array(9);
  backing.set(new Uint8Array(new Float32Array([1, 2]).buffer), 1);
  const back = unpackValue(json, [backing.subarray(1)]) as Float32Array;
  assert.deepEqual(Array.from(back), [1, 2]);
});

test('relocatePacked moves buffers between messages without touching the JSON', () => {
  const from: Uint8Array[] = [new Uint8Array([9])];
  const ref = packInto({ a: new Float32Array([4, 5]) }, from);
  const to: Uint8Array[] = [new Uint8Array([0]), new Uint8Array([0])];
  const moved = relocatePacked(ref, from, to)!;
  assert.deepEqual(moved.$b, [2]);
  assert.strictEqual(moved.$v, ref.$v);
  assert.deepEqual(Array.from((unpackFrom(moved, to) as any).a), [4, 5]);
});

test('relocatePacked and unpackFrom accept and reject exactly the same refs', () => {
  const from: Uint8Array[] = [new Uint8Array([1]), new Uint8Array([2])];
  const v = { $buf: 0, dtype: 'uint8', shape: [1] };
  const bad: [string, unknown][] = [
    ['fractional index', { $v: v, $b: [0.5] }],
    ['numeric string index', { $v: v, $b: ['1'] }],
    ['negative index', { $v: v, $b: [-1] }],
    ['index past the end', { $v: v, $b: [2] }],
    ['array property that finds a buffer', { $v: v, $b: ['length'] }],
    ['$b missing', { $v: v }],
    ['not an object', [0]],
  ];
  for (const [what, ref] of bad) {
    for (const [name, read] of [['unpackFrom', () => unpackFrom(ref as any, from)], ['relocatePacked', () => relocatePacked(ref as any, from, [])]] as const) {
      assert.throws(read, (err: unknown) => err instanceof ProtocolError && err.reason === 'malformed' && /packed value/.test(err.message), `${name} must reject a ${what}`);
    }
  }
  const good = { $v: v, $b: [1] };
  assert.deepEqual(Array.from(unpackFrom(good as any, from) as Uint8Array), [2]);
  const to: Uint8Array[] = [];
  assert.deepEqual(relocatePacked(good as any, from, to), { $v: v, $b: [0] });
  assert.strictEqual(to[0], from[1]);
  assert.strictEqual(relocatePacked(undefined, from, to), undefined);
});

test('tampered signature is rejected', () => {
  const wire = encodeMessage(makeMessage('heartbeat', { running: 0 }), KEY);
  wire[8] ^= 0xff;
  rejects(() => decodeMessage(wire, KEY), 'signature', /does not match/);
});

test('tampered binary buffer is rejected', () => {
  const msg = makeMessage('task_report', { task_id: 't', data: {} }, { buffers: [new Uint8Array([1, 2, 3, 4])] });
  const wire = encodeMessage(msg, KEY);
  const at = wire.lastIndexOf(Buffer.from([1, 2, 3, 4]));
  assert.ok(at > 40);
  wire[at] = 42;
  rejects(() => decodeMessage(wire, KEY), 'signature');
});

test('tampered content JSON is rejected', () => {
  const wire = encodeMessage(makeMessage('task_stream', { task_id: 't', name: 'stdout', text: 'aaaa' }), KEY);
  const at = wire.indexOf(Buffer.from('aaaa'));
  wire[at] = 'b'.charCodeAt(0);
  rejects(() => decodeMessage(wire, KEY), 'signature');
});

test('missing signature is rejected', () => {
  const wire = encodeMessage(makeMessage('heartbeat', { running: 0 }), KEY);
  wire.fill(0, 8, 40);
  rejects(() => decodeMessage(wire, KEY), 'signature', /not signed/);
});

test('wrong key is rejected as a signature error', () => {
  const wire = encodeMessage(makeMessage('heartbeat', { running: 0 }), generateKey());
  rejects(() => decodeMessage(wire, KEY), 'signature');
});

test('malformed messages are rejected', () => {
  rejects(() => decodeMessage(Buffer.from('hello'), KEY), 'malformed', /shorter/);
  rejects(() => decodeMessage(Buffer.alloc(100, 1), KEY), 'malformed', /magic/);
  const good = encodeMessage(makeMessage('heartbeat', { running: 0 }), KEY);
  rejects(() => decodeMessage(good.subarray(0, good.length - 20), KEY), 'signature');
  const badJson = [Buffer.from('{not json'), Buffer.from('{}'), Buffer.from('{}'), Buffer.from('{}')];
  rejects(() => decodeMessage(encodeRaw(badJson), KEY), 'malformed', /header frame is not valid JSON/);
  rejects(() => decodeMessage(encodeRaw(jsonFrames({ ...validHeader(), msg_id: 5 })), KEY), 'malformed', /header.msg_id/);
  rejects(() => decodeMessage(encodeRaw(jsonFrames(validHeader(), [1, 2])), KEY), 'malformed', /content is not a JSON object/);
  rejects(() => decodeMessage(encodeRaw(jsonFrames(validHeader('task_result'), { task_id: 't' })), KEY), 'malformed', /task_result.content.status/);
  rejects(() => decodeMessage(encodeRaw(jsonFrames(validHeader()).slice(0, 3)), KEY), 'malformed', /at least 4/);
  // frame length pointing past the end, signed correctly
  const frames = jsonFrames(validHeader());
  const wire = encodeRaw(frames);
  wire.writeUInt32LE(1e6, 40 + 12);
  const { createHmac } = require('node:crypto') as typeof import('node:crypto');
  const h = createHmac('sha256', KEY);
  h.update(wire.subarray(0, 8));
  h.update(wire.subarray(40));
  h.digest().copy(wire, 8);
  rejects(() => decodeMessage(wire, KEY), 'malformed', /runs past the end/);
});

test('unknown message type is rejected, also inside a batch', () => {
  rejects(() => decodeMessage(encodeRaw(jsonFrames(validHeader('steal_all_the_things'))), KEY), 'unknown_type', /steal_all_the_things/);
  const batch = { items: [{ t: 'heartbeat', c: { running: 1 } }, { t: 'nope', c: {} }] };
  rejects(() => decodeMessage(encodeRaw(jsonFrames(validHeader('batch'), batch)), KEY), 'unknown_type', /nope/);
  assert.throws(() => makeMessage('nope' as any, {}), ProtocolError);
});

test('too large messages are rejected on encode and decode', () => {
  const msg = makeMessage('task_report', { task_id: 't', data: {} }, { buffers: [new Uint8Array(2048)] });
  rejects(() => encodeMessage(msg, KEY, { maxBytes: 1024 }), 'too_large', /limit is 1024/);
  const wire = encodeMessage(msg, KEY);
  rejects(() => decodeMessage(wire, KEY, { maxBytes: 1024 }), 'too_large');
});

test('wrong protocol version is rejected', () => {
  rejects(() => decodeMessage(encodeRaw(jsonFrames({ ...validHeader(), version: '1.0' })), KEY), 'version', /1\.0/);
  rejects(() => decodeMessage(encodeRaw(jsonFrames({ ...validHeader(), version: '3.0' })), KEY), 'version', /3\.0/);
  const { version: _omit, ...noVersion } = validHeader();
  rejects(() => decodeMessage(encodeRaw(jsonFrames(noVersion)), KEY), 'version', /missing/);
  const wire = encodeMessage(makeMessage('heartbeat', { running: 0 }), KEY);
  wire.writeUInt8(9, 4);
  rejects(() => decodeMessage(wire, KEY), 'version', /framing version 9/);
  assert.doesNotThrow(() => decodeMessage(encodeRaw(jsonFrames({ ...validHeader(), version: '2.7' })), KEY));
});

test('batches carry many messages with their own buffers', () => {
  const msgs: Message[] = [];
  for (let i = 0; i < 5; i++) {
    const buffers: Uint8Array[] = [];
    const value = packInto(i % 2 ? new Float32Array([i, i + 0.5]) : { n: i }, buffers);
    msgs.push(makeMessage('task_result', { task_id: `t${i}`, status: 'ok', value }, { buffers, parent: { msg_id: `req${i}` } }));
  }
  const back = decodeMessages(encodeMessage(makeBatch(msgs), KEY), KEY);
  assert.equal(back.length, 5);
  back.forEach((m, i) => {
    assert.equal(m.header.msg_type, 'task_result');
    assert.equal(m.content.task_id, `t${i}`);
    assert.equal(m.parent_header.msg_id, `req${i}`);
    const v = unpackFrom(m.content.value, m.buffers) as any;
    if (i % 2) assert.deepEqual(Array.from(v), [i, i + 0.5]);
    else assert.deepEqual(v, { n: i });
  });
  assert.deepEqual(expandBatch(msgs[0]), [msgs[0]]);
});

test('a batch claiming the wrong number of buffers is malformed', () => {
  const batch = { items: [{ t: 'heartbeat', c: { running: 1 }, nb: 2 }] };
  rejects(() => decodeMessage(encodeRaw(jsonFrames(validHeader('batch'), batch)), KEY), 'malformed', /claim 2 buffers/);
});

test('MessageBatcher sends one frame per event-loop turn', async () => {
  const sent: Buffer[] = [];
  const batcher = new MessageBatcher(KEY, (d) => sent.push(d));
  for (let i = 0; i < 100; i++) batcher.push(makeMessage('heartbeat', { running: i }));
  assert.equal(sent.length, 0);
  await new Promise((r) => setImmediate(r));
  assert.equal(sent.length, 1);
  const got = decodeMessages(sent[0], KEY);
  assert.deepEqual(got.map((m) => m.content.running), Array.from({ length: 100 }, (_, i) => i));
  batcher.push(makeMessage('heartbeat', { running: 7 }));
  batcher.flush();
  assert.equal(decodeMessage(sent[1], KEY).header.msg_type, 'heartbeat');
});

test('local frames (same process): the same message as the wire gives, buffers copied at encode, no signature', () => {
  const data = new Float32Array([1, 2, 3]);
  const buffers: Uint8Array[] = [];
  const msg = makeMessage('task_report', { task_id: 't1', data: { v: packInto(data, buffers) } }, { buffers, parent: { msg_id: 'p:1' } });
  const frame = encodeLocal(msg);
  data[0] = 99; // changed after sending: the receiver still sees what was sent
  const local = decodeMessages(frame, 'some other key');
  const wire = decodeMessages(encodeMessage(makeMessage('task_report', msg.content, { buffers: [new Uint8Array(new Float32Array([1, 2, 3]).buffer)], parent: { msg_id: 'p:1' } }), KEY), KEY);
  assert.deepEqual(local[0].content, wire[0].content);
  assert.deepEqual(local[0].parent_header, wire[0].parent_header);
  assert.deepEqual(Array.from(unpackFrom((local[0].content as any).data.v, local[0].buffers) as Float32Array), [1, 2, 3]);
  const batch = decodeMessages(encodeLocal(makeBatch([makeMessage('heartbeat', { running: 1 }), msg])), KEY);
  assert.deepEqual(batch.map((m) => m.header.msg_type), ['heartbeat', 'task_report']);
  assert.equal(batch[1].buffers.length, 1);
});

test('local frames are validated like wire messages: bad JSON, unknown type, size limit', () => {
  const good = encodeLocal(makeMessage('heartbeat', { running: 0 }));
  rejects(() => decodeLocal({ json: [good.json[0], '{}', '{}', '{oops'], buffers: [] }), 'malformed', /content frame is not valid JSON/);
  rejects(() => decodeLocal({ json: good.json.slice(0, 3), buffers: [] }), 'malformed', /3 JSON frames/);
  rejects(() => decodeLocal({ json: [JSON.stringify(validHeader('nope')), '{}', '{}', '{}'], buffers: [] }), 'unknown_type', /nope/);
  const big = makeMessage('task_report', { task_id: 't', data: {} }, { buffers: [new Uint8Array(2048)] });
  rejects(() => encodeLocal(big, { maxBytes: 1024 }), 'too_large', /limit is 1024/);
});

test('the JavaScript HMAC-SHA256 for small messages is bit-for-bit node:crypto, across block boundaries and key lengths', async () => {
  const { createHmac, randomBytes } = await import('node:crypto');
  const { hmacKeyState, hmacSha256 } = await import('../../cluster/protocol/hmac-small');
  for (let t = 0; t < 600; t++) {
    const key = randomBytes(1 + (t % 64));
    const parts = [randomBytes(t % 9), randomBytes((t * 37) % 300), randomBytes(t % 130)];
    const want = createHmac('sha256', key);
    for (const p of parts) want.update(p);
    assert.deepEqual(hmacSha256(hmacKeyState(key), parts), want.digest(), `key ${key.length} B, parts ${parts.map((p) => p.length)}`);
  }
  // either side of the size where signing switches to node:crypto, both verified by decode
  for (const size of [100, 2000, 2100, 70_000]) {
    const msg = makeMessage('task_report', { task_id: 't', data: {} }, { buffers: [randomBytes(size)] });
    const wire = encodeMessage(msg, KEY);
    const h = createHmac('sha256', KEY);
    h.update(wire.subarray(0, 8));
    h.update(wire.subarray(40));
    assert.deepEqual(wire.subarray(8, 40), h.digest(), `signature of a ${wire.length}-byte message`);
    assert.equal(decodeMessage(wire, KEY).buffers[0].length, size);
  }
});

test('MESSAGE_TYPES lists each type once and includes the documented ones', () => {
  assert.equal(new Set(MESSAGE_TYPES).size, MESSAGE_TYPES.length);
  for (const t of ['register_request', 'task_request', 'task_result', 'submit_request', 'engine_event', 'batch']) assert.ok(MESSAGE_TYPES.includes(t as any), t);
});

test('connection files: written 0600, read back by path or id, bad files named', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { connectionFilePath, readConnectionFile, writeConnectionFile } = await import('../../cluster/protocol');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  try {
    const file = connectionFilePath('c1', dir);
    const info = { url: 'ws://127.0.0.1:1234', cluster_id: 'c1', key: KEY, signature_scheme: 'hmac-sha256' as const, protocol_version: PROTOCOL_VERSION, pid: 1, dashboard_url: 'http://127.0.0.1:1234/', created: 'now' };
    writeConnectionFile(file, info);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(readConnectionFile('c1', dir), info);
    assert.deepEqual(readConnectionFile(file), info);
    assert.throws(() => readConnectionFile('nope', dir), /nope\.json does not exist/);
    fs.writeFileSync(file, JSON.stringify({ ...info, key: 5 }));
    assert.throws(() => readConnectionFile(file), /c1\.json: key is missing/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
