/**
 * Event files: the seed layout (`data {N,3,H,W}`, `label`, `normweight`,
 * `weight`, `psr`) and the legacy layout (`all_events/{hist,y,
 * normalized_weight,weight}`, `hist {N,H,W}`, one channel, no `psr`).
 * Opening validates shapes and types so that a bad file fails here, with its
 * name, and not in the middle of training.
 */
import * as fs from 'node:fs';
import { DataFileError } from './errors';
import { findContiguousDataset } from './h5layout';
import { closeInThread, readRowsInThread } from './h5worker';
import { DatasetInfo, Hdf5File, NamedArray, loadH5wasm, toFloat32, toInt32, writeArrays } from './hdf5';

export type EventLayout = 'seed' | 'legacy';

interface LayoutNames {
  images: string;
  label: string;
  normweight: string;
  weight: string;
  psr: string | null;
}

export const SEED_NAMES: LayoutNames = { images: 'data', label: 'label', normweight: 'normweight', weight: 'weight', psr: 'psr' };
export const LEGACY_NAMES: LayoutNames = {
  images: 'all_events/hist',
  label: 'all_events/y',
  normweight: 'all_events/normalized_weight',
  weight: 'all_events/weight',
  psr: null,
};

/** Per-event scalars of a whole file (small: 13 bytes per event). */
export interface EventScalars {
  label: Int32Array;
  normweight: Float32Array;
  weight: Float32Array;
  psr: Uint8Array;
}

export interface EventFileInfo {
  path: string;
  layout: EventLayout;
  numEvents: number;
  channels: number;
  height: number;
  width: number;
  /** element type of the image dataset on disk, e.g. 'f4' */
  imageDtype: string;
  imageInfo: DatasetInfo;
  /** false for legacy files: psr is then all zeros */
  hasPsr: boolean;
  /**
   * 'direct' when images are a contiguous little-endian float32 dataset read
   * with positional file reads; 'h5wasm' otherwise (chunked, compressed, other types)
   */
  imageReader: 'direct' | 'h5wasm';
}

export class EventFile {
  readonly info: EventFileInfo;
  private readonly h5: Hdf5File;
  private readonly names: LayoutNames;
  private scalarsCache: EventScalars | null = null;
  /** file descriptor and byte offset of the image data for direct reads */
  private direct: { fd: number; offset: number } | null = null;
  /** read h5wasm-path images in the shared reader thread (async reads only) */
  private readonly useThread: boolean;
  private usedThread = false;

  private constructor(h5: Hdf5File, names: LayoutNames, info: EventFileInfo, useThread: boolean) {
    this.h5 = h5;
    this.names = names;
    this.info = info;
    this.useThread = useThread;
    this.direct = this.locateImages();
    this.info.imageReader = this.direct ? 'direct' : 'h5wasm';
  }

  /**
   * Find the contiguous image bytes in the file and check them against what
   * h5wasm reads for the first and last event; null means "use h5wasm".
   */
  private locateImages(): { fd: number; offset: number } | null {
    const { imageInfo, numEvents } = this.info;
    if (imageInfo.numericType !== 'f4' || !imageInfo.littleEndian || imageInfo.chunks || imageInfo.filters.length || numEvents === 0) return null;
    const extent = findContiguousDataset(this.path, this.names.images);
    const eventBytes = this.rawEventBytes;
    if (!extent || extent.size !== numEvents * eventBytes) return null;
    const fd = fs.openSync(this.path, 'r');
    try {
      for (const ev of new Set([0, numEvents - 1])) {
        const viaH5 = new Uint8Array(eventBytes);
        this.h5.readRowsInto(this.names.images, ev, 1, imageInfo, viaH5);
        const viaFs = new Uint8Array(eventBytes);
        if (fs.readSync(fd, viaFs, 0, eventBytes, extent.offset + ev * eventBytes) !== eventBytes) throw new Error('short read');
        if (!Buffer.from(viaH5.buffer).equals(Buffer.from(viaFs.buffer))) throw new Error('mismatch');
      }
    } catch {
      fs.closeSync(fd);
      return null;
    }
    return { fd, offset: extent.offset };
  }

  /**
   * Open and validate an event file. `warn` receives notes such as the missing
   * `psr` of legacy files.
   */
  static async open(filePath: string, opts: { warn?: (s: string) => void; readerThread?: boolean } = {}): Promise<EventFile> {
    const ns = await loadH5wasm();
    const h5 = Hdf5File.openWith(ns, filePath, 'r');
    try {
      return EventFile.validate(h5, filePath, opts.warn ?? ((s) => process.stderr.write(s + '\n')), opts.readerThread ?? false);
    } catch (e) {
      h5.close();
      throw e;
    }
  }

  private static validate(h5: Hdf5File, filePath: string, warn: (s: string) => void, useThread: boolean): EventFile {
    const layout = detectLayout(h5, filePath);
    const names = layout === 'seed' ? SEED_NAMES : LEGACY_NAMES;
    const img = h5.info(names.images);
    requireNumeric(filePath, img);
    let channels: number;
    let height: number;
    let width: number;
    if (layout === 'seed') {
      if (img.shape.length !== 4) {
        throw new DataFileError(filePath, `must be 4-D {N,3,H,W}, got shape [${img.shape.join(',')}]`, names.images);
      }
      [, channels, height, width] = img.shape;
      if (channels !== 3) {
        throw new DataFileError(filePath, `must have 3 channels (energy, EM fraction, tracks) on axis 1 {N,3,H,W}, got shape [${img.shape.join(',')}]`, names.images);
      }
    } else {
      if (img.shape.length === 3) {
        [, height, width] = img.shape;
        channels = 1;
      } else if (img.shape.length === 4) {
        [, channels, height, width] = img.shape;
      } else {
        throw new DataFileError(filePath, `must be 3-D {N,H,W} (or 4-D {N,C,H,W}), got shape [${img.shape.join(',')}]`, names.images);
      }
    }
    if (height < 1 || width < 1) throw new DataFileError(filePath, `has empty images, shape [${img.shape.join(',')}]`, names.images);
    const n = img.shape[0];
    const scalarNames = [names.label, names.normweight, names.weight, ...(names.psr ? [names.psr] : [])];
    for (const name of scalarNames) {
      const info = h5.info(name);
      requireNumeric(filePath, info);
      const isColumn = info.shape.length === 1 || (info.shape.length === 2 && info.shape[1] === 1);
      if (!isColumn) throw new DataFileError(filePath, `must be 1-D {N}, got shape [${info.shape.join(',')}]`, name);
      if (info.shape[0] !== n) {
        throw new DataFileError(filePath, `has ${info.shape[0]} entries but '${names.images}' has ${n} events`, name);
      }
    }
    if (!names.psr) warn(`${filePath}: legacy layout has no 'psr' (passes standard cuts); treating psr as 0 for every event`);
    const info: EventFileInfo = {
      path: filePath,
      layout,
      numEvents: n,
      channels,
      height,
      width,
      imageDtype: img.dtype,
      imageInfo: img,
      hasPsr: names.psr !== null,
      imageReader: 'h5wasm',
    };
    return new EventFile(h5, names, info, useThread);
  }

  get path(): string {
    return this.info.path;
  }

  /** Bytes of one event's image as stored on disk. */
  get rawEventBytes(): number {
    return this.info.channels * this.info.height * this.info.width * this.info.imageInfo.elementSize;
  }

  /** label/normweight/weight/psr for every event of the file (read once, cached). */
  scalars(): EventScalars {
    if (this.scalarsCache) return this.scalarsCache;
    const label = toInt32(this.h5.readNumeric(this.names.label).data);
    for (let i = 0; i < label.length; i++) {
      if (label[i] !== 0 && label[i] !== 1) {
        throw new DataFileError(this.path, `must hold class labels 0 or 1, got ${label[i]} at event ${i}`, this.names.label);
      }
    }
    const normweight = toFloat32(this.h5.readNumeric(this.names.normweight).data);
    const weight = toFloat32(this.h5.readNumeric(this.names.weight).data);
    const psr = new Uint8Array(label.length);
    if (this.names.psr) {
      const raw = this.h5.readNumeric(this.names.psr).data;
      for (let i = 0; i < raw.length; i++) psr[i] = Number(raw[i]) ? 1 : 0;
    }
    this.scalarsCache = { label, normweight, weight, psr };
    return this.scalarsCache;
  }

  /**
   * Read images of events [start, start+count) as float32 NCHW into `dest`
   * (at element offset `destOffset`).
   */
  readImages(start: number, count: number, dest: Float32Array, destOffset = 0): void {
    const { imageInfo } = this.info;
    const elems = count * this.info.channels * this.info.height * this.info.width;
    this.checkRange(start, count);
    if (this.direct) {
      const bytes = new Uint8Array(dest.buffer, dest.byteOffset + destOffset * 4, elems * 4);
      let done = 0;
      while (done < bytes.length) {
        const n = fs.readSync(this.direct.fd, bytes, done, bytes.length - done, this.direct.offset + start * this.rawEventBytes + done);
        if (n === 0) throw new DataFileError(this.path, `ended early while reading events ${start}..${start + count - 1} (file changed or truncated?)`, this.names.images);
        done += n;
      }
      return;
    }
    if (imageInfo.numericType === 'f4' && imageInfo.littleEndian) {
      const bytes = new Uint8Array(dest.buffer, dest.byteOffset + destOffset * 4, elems * 4);
      this.h5.readRowsInto(this.names.images, start, count, imageInfo, bytes);
      return;
    }
    if (!imageInfo.littleEndian && imageInfo.elementSize > 1) {
      throw new DataFileError(this.path, `is big-endian (${imageInfo.dtype}); only little-endian data is supported`, this.names.images);
    }
    const raw = new Uint8Array(elems * imageInfo.elementSize);
    this.h5.readRowsInto(this.names.images, start, count, imageInfo, raw);
    const typed = typedView(imageInfo.numericType!, raw);
    for (let i = 0; i < elems; i++) dest[destOffset + i] = Number(typed[i]);
  }

  /**
   * As `readImages`, but direct reads run in the libuv thread pool so that
   * the main thread keeps working (training) while the data arrives.
   */
  async readImagesAsync(start: number, count: number, dest: Float32Array, destOffset = 0): Promise<void> {
    if (!this.direct && this.useThread) return this.readImagesInThread(start, count, dest, destOffset);
    if (!this.direct) return this.readImages(start, count, dest, destOffset);
    this.checkRange(start, count);
    const { fd, offset } = this.direct;
    const bytes = new Uint8Array(dest.buffer, dest.byteOffset + destOffset * 4, count * this.rawEventBytes);
    let done = 0;
    while (done < bytes.length) {
      const n = await new Promise<number>((resolve, reject) =>
        fs.read(fd, bytes, done, bytes.length - done, offset + start * this.rawEventBytes + done, (err, got) => (err ? reject(err) : resolve(got))),
      );
      if (n === 0) throw new DataFileError(this.path, `ended early while reading events ${start}..${start + count - 1} (file changed or truncated?)`, this.names.images);
      done += n;
    }
  }

  private async readImagesInThread(start: number, count: number, dest: Float32Array, destOffset: number): Promise<void> {
    this.checkRange(start, count);
    const { imageInfo } = this.info;
    if (!imageInfo.littleEndian && imageInfo.elementSize > 1) {
      throw new DataFileError(this.path, `is big-endian (${imageInfo.dtype}); only little-endian data is supported`, this.names.images);
    }
    this.usedThread = true;
    let raw: Uint8Array;
    try {
      raw = await readRowsInThread(this.path, this.names.images, imageInfo.shape, start, count, imageInfo.elementSize);
    } catch (e) {
      throw new DataFileError(this.path, `cannot be read (events ${start}..${start + count - 1}): ${e instanceof Error ? e.message : e}`, this.names.images);
    }
    const elems = count * this.info.channels * this.info.height * this.info.width;
    if (imageInfo.numericType === 'f4') {
      new Uint8Array(dest.buffer, dest.byteOffset + destOffset * 4, elems * 4).set(raw);
      return;
    }
    const typed = typedView(imageInfo.numericType!, raw);
    for (let i = 0; i < elems; i++) dest[destOffset + i] = Number(typed[i]);
  }

  private checkRange(start: number, count: number): void {
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > this.info.numEvents) {
      throw new DataFileError(this.path, `read of events [${start}, ${start + count}) is outside its ${this.info.numEvents} events`, this.names.images);
    }
  }

  close(): void {
    if (this.usedThread) closeInThread(this.path);
    if (this.direct) {
      fs.closeSync(this.direct.fd);
      this.direct = null;
    }
    this.h5.close();
  }
}

function detectLayout(h5: Hdf5File, filePath: string): EventLayout {
  if (h5.has(SEED_NAMES.images)) return 'seed';
  if (h5.has(LEGACY_NAMES.images)) return 'legacy';
  const present = h5.datasetNames();
  throw new DataFileError(
    filePath,
    `is missing dataset 'data' (seed layout; or 'all_events/hist' for the legacy layout); it has ${present.length ? present.map((p) => `'${p}'`).join(', ') : 'no datasets'}`,
  );
}

function requireNumeric(filePath: string, info: DatasetInfo): void {
  if (!info.numeric) throw new DataFileError(filePath, `has type ${info.dtype}, expected numbers (float or integer)`, info.name);
}

function typedView(dtype: string, raw: Uint8Array): ArrayLike<number | bigint> {
  const b = raw.buffer as ArrayBuffer;
  switch (dtype) {
    case 'f8': return new Float64Array(b);
    case 'f4': return new Float32Array(b);
    case 'i1': return new Int8Array(b);
    case 'u1': return new Uint8Array(b);
    case 'i2': return new Int16Array(b);
    case 'u2': return new Uint16Array(b);
    case 'i4': return new Int32Array(b);
    case 'u4': return new Uint32Array(b);
    case 'i8': return new BigInt64Array(b);
    case 'u8': return new BigUint64Array(b);
    default: throw new Error(`unsupported dtype ${dtype}`);
  }
}

export interface EventArrays {
  /** float32 NCHW, length N*C*H*W */
  data: Float32Array;
  /** [C,H,W] */
  imageShape: [number, number, number];
  label: Int32Array;
  normweight: Float32Array;
  weight: Float32Array;
  psr: Uint8Array;
}

export interface WriteEventFileOptions {
  /** events per chunk (enables chunked storage); default contiguous */
  chunkEvents?: number;
  /** gzip level 0-9 for chunked datasets */
  gzip?: number;
  /** extra root attributes */
  attrs?: Record<string, string | number | number[]>;
  /** write the legacy layout instead (single-channel only is not enforced) */
  layout?: EventLayout;
  /** further datasets beside the seed's (readers ignore them), e.g. the synthetic task's `jets` */
  extra?: Record<string, NamedArray>;
}

/** Write events in the seed layout (readable by h5py and h5ls). */
export async function writeEventFile(filePath: string, ev: EventArrays, opts: WriteEventFileOptions = {}): Promise<void> {
  const n = ev.label.length;
  const [c, h, w] = ev.imageShape;
  if (ev.data.length !== n * c * h * w) {
    throw new DataFileError(filePath, `cannot be written: ${ev.data.length} image values for ${n} events of [${c},${h},${w}]`);
  }
  const names = opts.layout === 'legacy' ? LEGACY_NAMES : SEED_NAMES;
  const arrays: Record<string, NamedArray> = {
    [names.images]: { data: ev.data, shape: opts.layout === 'legacy' && c === 1 ? [n, h, w] : [n, c, h, w] },
    [names.label]: { data: ev.label, shape: [n] },
    [names.normweight]: { data: ev.normweight, shape: [n] },
    [names.weight]: { data: ev.weight, shape: [n] },
  };
  if (names.psr) arrays[names.psr] = { data: ev.psr, shape: [n] };
  for (const [name, arr] of Object.entries(opts.extra ?? {})) {
    if (name in arrays) throw new DataFileError(filePath, `cannot be written: extra dataset '${name}' would replace a seed dataset`);
    if (arr.shape[0] !== n) throw new DataFileError(filePath, `cannot be written: extra dataset '${name}' has ${arr.shape[0]} entries for ${n} events`);
    arrays[name] = arr;
  }
  const chunks: Record<string, number[]> = {};
  if (opts.chunkEvents && n > 0) {
    const ce = Math.min(opts.chunkEvents, n);
    for (const [name, arr] of Object.entries(arrays)) chunks[name] = [ce, ...arr.shape.slice(1)];
  }
  await writeArrays(filePath, arrays, opts.attrs, {
    chunks: opts.chunkEvents ? chunks : undefined,
    gzip: opts.gzip,
  });
}
