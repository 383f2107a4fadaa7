/**
 * Values: JSON plus binary buffers (typed arrays never travel as JSON numbers).
 * packValue / unpackValue convert any supported value; packed-ref.ts places
 * a packed value inside message content.
 */
import { ProtocolError } from './errors';

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
  if (v === null) return null;
  if (typeof v !== 'object') return packScalar(v);
  if (ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return packBinary(v, buffers);
  if (seen.has(v)) throw new TypeError('packValue: cannot send a value with a circular reference');
  seen.add(v);
  try {
    return packStructured(v, buffers, seen);
  } finally {
    seen.delete(v);
  }
}

function packScalar(v: unknown): unknown {
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
  }
  throw new TypeError(`packValue: cannot send a ${typeof v} over the wire`);
}

/** Typed arrays, Buffers, DataViews and ArrayBuffers: the bytes go to `buffers`, a `$buf` marker stays in the JSON. */
function packBinary(obj: ArrayBufferView | ArrayBuffer, buffers: Uint8Array[]): unknown {
  if (obj instanceof ArrayBuffer) return bufferMarker(buffers, new Uint8Array(obj), 'arraybuffer', obj.byteLength);
  if (obj instanceof DataView) return bufferMarker(buffers, bytesOf(obj), 'dataview', obj.byteLength);
  const dtype = dtypeOf(obj);
  if (!dtype) throw new TypeError(`packValue: unsupported typed array ${obj.constructor.name}`);
  return bufferMarker(buffers, bytesOf(obj), dtype, (obj as TypedArray).length);
}

function bufferMarker(buffers: Uint8Array[], bytes: Uint8Array, dtype: string, length: number): unknown {
  buffers.push(bytes);
  return { $buf: buffers.length - 1, dtype, shape: [length] };
}

function packStructured(obj: object, buffers: Uint8Array[], seen: Set<object>): unknown {
  if (Array.isArray(obj)) return obj.map((x) => packInner(x, buffers, seen));
  if (obj instanceof Date) return { $date: obj.toISOString() };
  if (obj instanceof Error) {
    return { $err: { name: obj.name, message: obj.message, stack: obj.stack ?? '' } };
  }
  if (obj instanceof Map || obj instanceof Set) {
    throw new TypeError(`packValue: ${obj.constructor.name} is not supported; convert it to an array or object first`);
  }
  return packObject(obj as Record<string, unknown>, buffers, seen);
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
