/**
 * The one place that talks to h5wasm. Everything else in hpcdl reads and writes
 * HDF5 through these wrappers, so every failure names the file (and dataset).
 *
 * h5wasm is ESM-only: it is loaded with a dynamic import (kept as `import()` in
 * the CommonJS build) and its wasm module is initialised once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataFileError } from './errors';

type H5wasmNs = typeof import('h5wasm/node', { with: { 'resolution-mode': 'import' } });
type H5File = InstanceType<H5wasmNs['File']>;
type H5Dataset = InstanceType<H5wasmNs['Dataset']>;
type H5Metadata = H5Dataset['metadata'];

export type NumericArray = Float32Array | Float64Array | Int32Array | Uint8Array;
/** A named n-d array, row-major (C order), as stored in HDF5. */
export interface NamedArray {
  data: NumericArray;
  shape: number[];
}
export type AttrValue = string | number | number[];

export interface DatasetInfo {
  name: string;
  shape: number[];
  /** 'f4', 'f8', 'i1'...'i8', 'u1'...'u8', or a description of a non-numeric type */
  dtype: string;
  numeric: boolean;
  /** element type used to read numeric data ('f4', 'i8', 'u1', ...); enums (h5py bools) read as their integer base */
  numericType: string | null;
  littleEndian: boolean;
  /** bytes per element */
  elementSize: number;
  chunks: number[] | null;
  /** filter names, e.g. ['shuffle', 'deflate'] */
  filters: string[];
}

let loading: Promise<H5wasmNs> | null = null;
let scratch: { ptr: number; bytes: number } | null = null;

/** Load h5wasm and initialise its wasm module (once per process). */
export function loadH5wasm(): Promise<H5wasmNs> {
  if (!loading) {
    loading = (async () => {
      const ns = (await import('h5wasm/node')) as H5wasmNs;
      const module = await ns.ready;
      // HDF5 errors become JS exceptions carrying the HDF5 error stack instead of
      // being printed to stderr and leaving an invalid handle behind.
      module.activate_throwing_error_handler();
      return ns;
    })();
    loading.catch(() => {
      loading = null;
    });
  }
  return loading;
}

/** The most specific line of an HDF5 error stack, or the error's message. */
export function hdf5Reason(err: unknown): string {
  const text = err instanceof Error ? err.message : typeof err === 'string' ? err : String(err);
  const frames = [...text.matchAll(/#\d+:.*? in [\w.]+\(\): (.*)$/gm)].map((m) => m[1].trim());
  if (frames.length === 0) return text.split('\n')[0].trim() || 'unknown HDF5 error';
  const last = frames[frames.length - 1];
  const truncated = /truncated file: eof = (\d+).*stored_eof = (\d+)/.exec(last);
  if (truncated) {
    return `is truncated: ${truncated[1]} bytes on disk, but its HDF5 superblock says ${truncated[2]}`;
  }
  if (/file signature not found/.test(last)) return 'is not an HDF5 file (no HDF5 signature found)';
  return last;
}

/** An open HDF5 file; all errors carry the file name. */
export class Hdf5File {
  readonly path: string;
  private file: H5File | null;
  private readonly ns: H5wasmNs;

  private constructor(ns: H5wasmNs, filePath: string, file: H5File) {
    this.ns = ns;
    this.path = filePath;
    this.file = file;
  }

  static async open(filePath: string, mode: 'r' | 'w' | 'a' = 'r'): Promise<Hdf5File> {
    const ns = await loadH5wasm();
    return Hdf5File.openWith(ns, filePath, mode);
  }

  /** Synchronous open once h5wasm is loaded (see `loadH5wasm`). */
  static openWith(ns: H5wasmNs, filePath: string, mode: 'r' | 'w' | 'a' = 'r'): Hdf5File {
    const abs = path.resolve(filePath);
    if (mode !== 'w') {
      let st: fs.Stats;
      try {
        st = fs.statSync(abs);
      } catch {
        throw new DataFileError(filePath, 'does not exist');
      }
      if (!st.isFile()) throw new DataFileError(filePath, 'is not a regular file');
      if (st.size === 0) throw new DataFileError(filePath, 'is empty (0 bytes), not an HDF5 file');
    }
    try {
      return new Hdf5File(ns, filePath, new ns.File(abs, mode));
    } catch (e) {
      throw new DataFileError(filePath, mode === 'w' ? `cannot be created: ${hdf5Reason(e)}` : hdf5Reason(e));
    }
  }

  private get h5(): H5File {
    if (!this.file) throw new DataFileError(this.path, 'is already closed');
    return this.file;
  }

  private get module() {
    return this.ns.Module;
  }

  /** Every dataset path in the file (e.g. 'data', 'all_events/hist'). */
  datasetNames(): string[] {
    const out: string[] = [];
    try {
      for (const p of this.h5.paths()) {
        const rel = p.replace(/^\//, '');
        if (rel && this.h5.get_type(p) === this.module.H5G_DATASET) out.push(rel);
      }
    } catch (e) {
      throw new DataFileError(this.path, `cannot list its contents: ${hdf5Reason(e)}`);
    }
    return out;
  }

  has(name: string): boolean {
    try {
      const parts = name.split('/');
      let prefix = '';
      for (const part of parts) {
        const group = prefix === '' ? this.h5 : this.h5.get(prefix);
        if (!group || !(group instanceof this.ns.Group)) return false;
        if (!group.keys().includes(part)) return false;
        prefix = prefix ? `${prefix}/${part}` : part;
      }
      return true;
    } catch (e) {
      throw new DataFileError(this.path, `cannot look up '${name}': ${hdf5Reason(e)}`);
    }
  }

  private dataset(name: string): H5Dataset {
    if (!this.has(name)) throw new DataFileError(this.path, 'is missing', name);
    let entity: ReturnType<H5File['get']>;
    try {
      entity = this.h5.get(name);
    } catch (e) {
      throw new DataFileError(this.path, `cannot be opened: ${hdf5Reason(e)}`, name);
    }
    if (!(entity instanceof this.ns.Dataset)) throw new DataFileError(this.path, 'is not a dataset (it is a group or link)', name);
    return entity;
  }

  info(name: string): DatasetInfo {
    const ds = this.dataset(name);
    let md: H5Metadata;
    let filters: { name: string; id: number }[];
    try {
      md = ds.metadata;
      filters = ds.filters;
    } catch (e) {
      throw new DataFileError(this.path, `has unreadable metadata: ${hdf5Reason(e)}`, name);
    }
    return {
      name,
      shape: md.shape ?? [],
      dtype: describeDtype(md),
      numeric: numericType(md) !== null,
      numericType: numericType(md),
      littleEndian: md.littleEndian,
      elementSize: md.size,
      chunks: md.chunks,
      filters: filters.map((f) => filterName(f.id, f.name)),
    };
  }

  /**
   * Read rows [start, start+count) along the first axis into `dest` (raw bytes,
   * in the file's element type). Goes through one reusable wasm buffer, so a
   * read costs HDF5's own copy plus one copy out of the wasm heap.
   */
  readRowsInto(name: string, start: number, count: number, info: DatasetInfo, dest: Uint8Array): void {
    const rowElems = info.shape.slice(1).reduce((a, b) => a * b, 1);
    const nbytes = count * rowElems * info.elementSize;
    if (dest.byteLength < nbytes) throw new Error(`readRowsInto: destination too small (${dest.byteLength} < ${nbytes})`);
    if (start < 0 || start + count > (info.shape[0] ?? 0)) {
      throw new DataFileError(this.path, `read of rows [${start}, ${start + count}) is outside its ${info.shape[0]} rows`, name);
    }
    if (nbytes === 0) return;
    const ptr = this.scratchBuffer(nbytes);
    const rank = info.shape.length;
    const countArg = [BigInt(count), ...info.shape.slice(1).map((d) => BigInt(d))];
    const offsetArg = [BigInt(start), ...new Array<bigint>(rank - 1).fill(0n)];
    const strideArg = new Array<bigint>(rank).fill(1n);
    try {
      this.module.get_dataset_data(this.h5.file_id, '/' + name, countArg, offsetArg, strideArg, BigInt(ptr));
    } catch (e) {
      throw new DataFileError(this.path, `cannot be read (rows ${start}..${start + count - 1}): ${hdf5Reason(e)}`, name);
    }
    dest.set(this.module.HEAPU8.subarray(ptr, ptr + nbytes));
  }

  /** Read a whole numeric dataset as a typed array of its own element type. */
  readNumeric(name: string): { data: NumericArray | BigInt64Array | BigUint64Array | Int8Array | Int16Array | Uint16Array | Uint32Array; info: DatasetInfo } {
    const info = this.info(name);
    if (!info.numeric) throw new DataFileError(this.path, `has type ${info.dtype}, expected a numeric type`, name);
    if (!info.littleEndian && info.elementSize > 1) throw new DataFileError(this.path, `is big-endian (${info.dtype}); only little-endian data is supported`, name);
    const n = info.shape.reduce((a, b) => a * b, 1);
    const bytes = new Uint8Array(n * info.elementSize);
    if (info.shape.length === 0) {
      try {
        const v = this.dataset(name).value;
        return { data: toTyped(info.numericType!, new Uint8Array(new (arrayCtor(info.numericType!))([Number(v)] as never).buffer)), info };
      } catch (e) {
        throw new DataFileError(this.path, `cannot be read: ${hdf5Reason(e)}`, name);
      }
    }
    this.readRowsInto(name, 0, info.shape[0], info, bytes);
    return { data: toTyped(info.numericType!, bytes), info };
  }

  attrs(objectPath = '/'): Record<string, unknown> {
    try {
      const obj = objectPath === '/' ? this.h5 : this.h5.get(objectPath);
      if (!obj) return {};
      const out: Record<string, unknown> = {};
      for (const [k, a] of Object.entries((obj as H5Dataset).attrs)) out[k] = a.json_value;
      return out;
    } catch (e) {
      throw new DataFileError(this.path, `cannot read attributes of '${objectPath}': ${hdf5Reason(e)}`);
    }
  }

  setAttr(objectPath: string, name: string, value: AttrValue | number[]): void {
    try {
      const obj = objectPath === '/' ? this.h5 : this.h5.get(objectPath);
      if (!obj) throw new Error(`no object '${objectPath}'`);
      if (typeof value === 'number') {
        (obj as H5Dataset).create_attribute(name, new Float64Array([value]), [], '<d');
      } else if (Array.isArray(value)) {
        (obj as H5Dataset).create_attribute(name, Float64Array.from(value), [value.length], '<d');
      } else {
        (obj as H5Dataset).create_attribute(name, value);
      }
    } catch (e) {
      throw new DataFileError(this.path, `cannot write attribute '${name}' on '${objectPath}': ${hdf5Reason(e)}`);
    }
  }

  writeDataset(name: string, arr: NamedArray, opts: { chunks?: number[]; gzip?: number } = {}): void {
    const expected = arr.shape.reduce((a, b) => a * b, 1);
    if (arr.data.length !== expected) {
      throw new DataFileError(this.path, `has ${arr.data.length} values but shape [${arr.shape.join(',')}] needs ${expected}`, name);
    }
    try {
      const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
      if (parent) this.ensureGroup(parent);
      this.h5.create_dataset({
        name,
        data: arr.data,
        shape: arr.shape,
        dtype: dtypeOf(arr.data),
        ...(opts.chunks ? { chunks: opts.chunks } : {}),
        ...(opts.gzip !== undefined ? { compression: 'gzip' as const, compression_opts: opts.gzip } : {}),
      });
    } catch (e) {
      if (e instanceof DataFileError) throw e;
      throw new DataFileError(this.path, `cannot be written: ${hdf5Reason(e)}`, name);
    }
  }

  private ensureGroup(groupPath: string): void {
    let prefix = '';
    for (const part of groupPath.split('/')) {
      const next = prefix ? `${prefix}/${part}` : part;
      if (!this.has(next)) this.h5.create_group(next);
      prefix = next;
    }
  }

  /** One read buffer in the wasm heap for all files (reads are synchronous, so it is never shared by two at once). */
  private scratchBuffer(nbytes: number): number {
    if (scratch && scratch.bytes >= nbytes) return scratch.ptr;
    if (scratch) this.module._free(scratch.ptr);
    scratch = null;
    const ptr = this.module._malloc(nbytes);
    if (!ptr) throw new DataFileError(this.path, `cannot allocate a ${nbytes}-byte read buffer in the wasm heap`);
    scratch = { ptr, bytes: nbytes };
    return ptr;
  }

  flush(): void {
    try {
      this.h5.flush();
    } catch (e) {
      throw new DataFileError(this.path, `cannot be flushed: ${hdf5Reason(e)}`);
    }
  }

  close(): void {
    if (!this.file) return;
    const f = this.file;
    this.file = null;
    try {
      f.close();
    } catch (e) {
      throw new DataFileError(this.path, `cannot be closed: ${hdf5Reason(e)}`);
    }
  }
}

function dtypeOf(data: NumericArray): string {
  if (data instanceof Float32Array) return '<f';
  if (data instanceof Float64Array) return '<d';
  if (data instanceof Int32Array) return '<i';
  if (data instanceof Uint8Array) return '<B';
  throw new Error('unsupported array type');
}

const H5T_INTEGER = 0;
const H5T_FLOAT = 1;

const H5T_ENUM = 8;

function numericType(md: H5Metadata): string | null {
  if (md.vlen) return null;
  if (md.type === H5T_FLOAT && (md.size === 4 || md.size === 8)) return `f${md.size}`;
  if (md.type === H5T_INTEGER || (md.type === H5T_ENUM && md.enum_type?.type === H5T_INTEGER)) return `${md.signed ? 'i' : 'u'}${md.size}`;
  return null;
}

function describeDtype(md: H5Metadata): string {
  if (md.type === H5T_FLOAT) return `f${md.size}`;
  if (md.type === H5T_INTEGER) return `${md.signed ? 'i' : 'u'}${md.size}`;
  if (md.type === H5T_ENUM && md.enum_type) {
    const m = md.enum_type.members;
    const isBool = Object.keys(m).length === 2 && m.FALSE === 0 && m.TRUE === 1;
    return isBool ? 'bool' : `enum(${md.signed ? 'i' : 'u'}${md.size})`;
  }
  const names: Record<number, string> = { 2: 'time', 3: 'string', 4: 'bitfield', 5: 'opaque', 6: 'compound', 7: 'reference', 8: 'enum', 9: 'vlen', 10: 'array' };
  return names[md.type] ?? `class ${md.type}`;
}

function filterName(id: number, name: string): string {
  const known: Record<number, string> = { 1: 'deflate', 2: 'shuffle', 3: 'fletcher32', 4: 'szip', 5: 'nbit', 6: 'scaleoffset' };
  return known[id] ?? (name || `filter ${id}`);
}

type AnyTyped = NumericArray | BigInt64Array | BigUint64Array | Int8Array | Int16Array | Uint16Array | Uint32Array;

function arrayCtor(dtype: string): { new (b: ArrayBuffer | number[]): AnyTyped } {
  const table: Record<string, unknown> = {
    f4: Float32Array, f8: Float64Array, i1: Int8Array, i2: Int16Array, i4: Int32Array, i8: BigInt64Array,
    u1: Uint8Array, u2: Uint16Array, u4: Uint32Array, u8: BigUint64Array,
  };
  const c = table[dtype];
  if (!c) throw new Error(`unsupported numeric dtype ${dtype}`);
  return c as { new (b: ArrayBuffer | number[]): AnyTyped };
}

function toTyped(dtype: string, bytes: Uint8Array): AnyTyped {
  const aligned = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice();
  return new (arrayCtor(dtype))(aligned.buffer as ArrayBuffer);
}

/** Convert any numeric typed array to float32 / int32 (for weights and labels). */
export function toFloat32(a: AnyTyped): Float32Array {
  if (a instanceof Float32Array) return a;
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}

export function toInt32(a: AnyTyped): Int32Array {
  if (a instanceof Int32Array) return a;
  const out = new Int32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = Number(a[i]);
  return out;
}

/**
 * Write named arrays (and optional root attributes) to a new HDF5 file.
 * Used for event files and for model checkpoints. Names may contain '/'.
 * The file is written to `<path>.tmp-<pid>` and renamed, so a crash never leaves
 * a half-written file under the final name.
 */
export async function writeArrays(
  filePath: string,
  arrays: Record<string, NamedArray>,
  attrs?: Record<string, AttrValue>,
  opts: { chunks?: Record<string, number[]>; gzip?: number } = {},
): Promise<void> {
  const tmp = `${filePath}.tmp-${process.pid}`;
  const ns = await loadH5wasm();
  let f: Hdf5File | undefined;
  try {
    withEpochClock(() => {
      f = Hdf5File.openWith(ns, tmp, 'w');
      for (const [name, arr] of Object.entries(arrays)) {
        const chunks = opts.chunks?.[name];
        f.writeDataset(name, arr, { chunks, gzip: chunks ? opts.gzip : undefined });
      }
      for (const [k, v] of Object.entries(attrs ?? {})) f.setAttr('/', k, v);
      f.close();
    });
  } catch (e) {
    try {
      withEpochClock(() => f?.close());
    } catch {
      /* already failing */
    }
    fs.rmSync(tmp, { force: true });
    throw renameInError(e, tmp, filePath);
  }
  fs.renameSync(tmp, filePath);
}

/**
 * Run synchronous h5wasm writes with the clock at 0 (1970-01-01). HDF5 stamps
 * every object header with its creation/modification times (libver latest: 16
 * bytes per header plus the header checksum), so two writes of the same arrays
 * differed in 48 bytes; h5wasm 0.10 exposes no `H5Pset_obj_track_times`. Its
 * `time()` is Emscripten's `clock_time_get` → `Date.now()`, so pinning
 * `Date.now` for the synchronous write gives byte-identical files (times 0, as
 * h5py's `track_times=False` leaves them unset). No other JavaScript runs while
 * `fn` runs, and the clock is restored before returning.
 */
function withEpochClock<T>(fn: () => T): T {
  const now = Date.now;
  Date.now = () => 0;
  try {
    return fn();
  } finally {
    Date.now = now;
  }
}

function renameInError(e: unknown, tmp: string, real: string): unknown {
  if (e instanceof DataFileError) return new DataFileError(real, e.message.slice(e.file.length + 2).replace(/^dataset '[^']*' /, ''), e.dataset);
  return e instanceof Error ? new DataFileError(real, e.message.replace(tmp, real)) : e;
}

/**
 * Read every numeric dataset of a file. Float32/Float64/Int32/Uint8 come back
 * as such; other integer types are widened to Int32Array (8-byte ints must fit).
 */
export async function readArrays(filePath: string): Promise<Record<string, NamedArray>> {
  const f = await Hdf5File.open(filePath, 'r');
  try {
    const out: Record<string, NamedArray> = {};
    for (const name of f.datasetNames()) {
      const { data, info } = f.readNumeric(name);
      out[name] = { data: normaliseArray(data), shape: info.shape };
    }
    return out;
  } finally {
    f.close();
  }
}

/** Root attributes of a file as plain JSON values. */
export async function readAttributes(filePath: string, objectPath = '/'): Promise<Record<string, unknown>> {
  const f = await Hdf5File.open(filePath, 'r');
  try {
    return f.attrs(objectPath);
  } finally {
    f.close();
  }
}

function normaliseArray(a: AnyTyped): NumericArray {
  if (a instanceof Float32Array || a instanceof Float64Array || a instanceof Int32Array || a instanceof Uint8Array) return a;
  return toInt32(a);
}
