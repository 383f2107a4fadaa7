/**
 * The input pipeline: file discovery, sharding by rank, shuffling, batching
 * across file boundaries, read-ahead, and the seed's dummy-data mode.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DataFileError, DataOptionsError } from './errors';
import { EventFile, EventScalars } from './events';
import { Rng } from './rng';
import type { BatchSource, EventBatch } from './types';

export type Split = 'train' | 'val' | 'test';
export type ImageLayout = 'NCHW' | 'NHWC';

export interface EventSourceOptions {
  /** directory searched with `discoverFiles` (ignored when `files` is given) */
  inputPath?: string;
  /** explicit file list (taken as given, before sharding) */
  files?: string[];
  split: Split;
  batchSize: number;
  layout: ImageLayout;
  /** this worker's rank, default 0 */
  rank?: number;
  /** number of workers, default 1 */
  size?: number;
  /** default: true for 'train', false otherwise */
  shuffle?: boolean;
  /** shuffle seed, default 12345 (the seed benchmark's v2d value) */
  seed?: number;
  /** the seed's `--dummy_data`: random images, no files read */
  dummy?: boolean;
  /** batches read ahead while the consumer works, default 2 (0 = none) */
  prefetch?: number;
  /** drop the last, smaller batch of an epoch */
  dropRemainder?: boolean;
  /** files must have images of this [C,H,W] (e.g. from the config); dummy data uses it, default [3,64,64] */
  imageShape?: [number, number, number];
  /** dummy mode: events per epoch, default 10000 for train, 1000 otherwise (as the seed) */
  dummyEvents?: number;
  /** memory for the shuffle window (events read and permuted together), default 128 MiB */
  shuffleBufferBytes?: number;
  /** notes and warnings (legacy layout, unused files); default stderr */
  log?: (line: string) => void;
  /**
   * read files that need the HDF5 library (chunked, compressed) in a worker
   * thread, off the main thread; default true (contiguous float32 files are
   * read with plain file reads in any case)
   */
  readerThread?: boolean;
}

const SPLIT_WORDS: Split[] = ['train', 'val', 'test'];

/**
 * Files of one split in `inputPath`: names containing the split word and
 * ending in `.h5`/`.hdf5`, sorted. A path to a single file is returned as is.
 */
export function discoverFiles(inputPath: string, split: Split): string[] {
  if (!SPLIT_WORDS.includes(split)) throw new DataOptionsError(`split must be one of ${SPLIT_WORDS.join('|')}, got ${JSON.stringify(split)}`);
  let st: fs.Stats;
  try {
    st = fs.statSync(inputPath);
  } catch {
    throw new DataOptionsError(`input path ${inputPath} does not exist`);
  }
  if (st.isFile()) return [inputPath];
  return fs
    .readdirSync(inputPath)
    .filter((name) => name.includes(split) && /\.(h5|hdf5)$/.test(name))
    .sort()
    .map((name) => path.join(inputPath, name));
}

/**
 * The seed's contiguous sharding: rank r of `size` gets files
 * [r*k, (r+1)*k) with k = floor(n/size). Returns null when n < size (the
 * caller then splits events instead of files).
 */
export function shardFiles(files: string[], rank: number, size: number): { files: string[]; unused: string[] } | null {
  const perRank = Math.floor(files.length / size);
  if (perRank === 0) return null;
  return { files: files.slice(rank * perRank, (rank + 1) * perRank), unused: files.slice(perRank * size) };
}

/** Open a batch source over event files or dummy data. */
export async function openEventSource(opts: EventSourceOptions): Promise<BatchSource> {
  const o = normaliseOptions(opts);
  if (o.dummy) return new DummySource(o);
  const all = opts.files ?? (opts.inputPath !== undefined ? discoverFiles(opts.inputPath, opts.split) : null);
  if (!all) throw new DataOptionsError('openEventSource needs inputPath, files or dummy: true');
  if (all.length === 0) {
    throw new DataOptionsError(`no ${o.split} files in ${opts.inputPath}: names must contain '${o.split}' and end in .h5 or .hdf5`);
  }
  const { pieces, dims } = await planPieces(all, o);
  return new FileSource(pieces, dims, o);
}

type Normalised = Required<Omit<EventSourceOptions, 'inputPath' | 'files' | 'imageShape' | 'dummyEvents'>> & {
  imageShape?: [number, number, number];
  dummyEvents: number;
};

function normaliseOptions(opts: EventSourceOptions): Normalised {
  const rank = opts.rank ?? 0;
  const size = opts.size ?? 1;
  if (!SPLIT_WORDS.includes(opts.split)) throw new DataOptionsError(`split must be one of ${SPLIT_WORDS.join('|')}, got ${JSON.stringify(opts.split)}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new DataOptionsError(`batchSize must be a positive integer, got ${opts.batchSize}`);
  if (opts.layout !== 'NCHW' && opts.layout !== 'NHWC') throw new DataOptionsError(`layout must be NCHW or NHWC, got ${JSON.stringify(opts.layout)}`);
  if (!Number.isInteger(size) || size < 1) throw new DataOptionsError(`size (number of workers) must be a positive integer, got ${size}`);
  if (!Number.isInteger(rank) || rank < 0 || rank >= size) throw new DataOptionsError(`rank must be an integer in [0, ${size}), got ${rank}`);
  const prefetch = opts.prefetch ?? 2;
  if (!Number.isInteger(prefetch) || prefetch < 0) throw new DataOptionsError(`prefetch must be a non-negative integer, got ${prefetch}`);
  if (opts.imageShape && (opts.imageShape.length !== 3 || opts.imageShape.some((d) => !Number.isInteger(d) || d < 1))) {
    throw new DataOptionsError(`imageShape must be [C,H,W] of positive integers, got ${JSON.stringify(opts.imageShape)}`);
  }
  return {
    split: opts.split,
    batchSize: opts.batchSize,
    layout: opts.layout,
    rank,
    size,
    shuffle: opts.shuffle ?? opts.split === 'train',
    seed: opts.seed ?? 12345,
    dummy: opts.dummy ?? false,
    prefetch,
    dropRemainder: opts.dropRemainder ?? false,
    imageShape: opts.imageShape,
    dummyEvents: opts.dummyEvents ?? (opts.split === 'train' ? 10000 : 1000),
    shuffleBufferBytes: opts.shuffleBufferBytes ?? 128 * 1024 * 1024,
    log: opts.log ?? ((s: string) => process.stderr.write(s + '\n')),
    readerThread: opts.readerThread ?? true,
  };
}

/** A contiguous event range [start, end) of one open file. */
interface Piece {
  file: EventFile;
  start: number;
  end: number;
}

async function planPieces(all: string[], o: Normalised): Promise<{ pieces: Piece[]; dims: [number, number, number] }> {
  const sharded = shardFiles(all, o.rank, o.size);
  const names = sharded ? sharded.files : all;
  if (sharded && sharded.unused.length > 0 && o.rank === 0) {
    o.log(`data: ${all.length} ${o.split} files over ${o.size} workers: ${sharded.unused.length} left over and unused (${sharded.unused.map((f) => path.basename(f)).join(', ')})`);
  }
  const files: EventFile[] = [];
  try {
    for (const name of names) files.push(await EventFile.open(name, { warn: o.log, readerThread: o.readerThread }));
    checkImageShapes(files, o.imageShape);
  } catch (e) {
    for (const f of files) f.close();
    throw e;
  }
  const first = files[0].info;
  const dims: [number, number, number] = [first.channels, first.height, first.width];
  if (sharded) return { pieces: files.map((file) => ({ file, start: 0, end: file.info.numEvents })), dims };
  // a rank may get no events at all when there are fewer events than workers
  return { pieces: splitEvents(files, o.rank, o.size), dims };
}

/** n files < workers: every rank opens all files and takes a contiguous slice of all events. */
function splitEvents(files: EventFile[], rank: number, size: number): Piece[] {
  const total = files.reduce((s, f) => s + f.info.numEvents, 0);
  const lo = Math.floor((rank * total) / size);
  const hi = Math.floor(((rank + 1) * total) / size);
  const pieces: Piece[] = [];
  let base = 0;
  for (const file of files) {
    const n = file.info.numEvents;
    const start = Math.max(lo, base) - base;
    const end = Math.min(hi, base + n) - base;
    if (end > start) pieces.push({ file, start, end });
    else file.close();
    base += n;
  }
  return pieces;
}

function checkImageShapes(files: EventFile[], expected?: [number, number, number]): void {
  const ref = expected ?? (files[0] ? [files[0].info.channels, files[0].info.height, files[0].info.width] : undefined);
  if (!ref) return;
  for (const f of files) {
    const got = [f.info.channels, f.info.height, f.info.width];
    if (got.some((d, i) => d !== ref[i])) {
      const against = expected ? 'the expected input shape' : `${files[0].path}`;
      throw new DataFileError(f.path, `has images of [C,H,W] = [${got.join(',')}], but ${against} has [${ref.join(',')}]`, f.info.layout === 'seed' ? 'data' : 'all_events/hist');
    }
  }
}

/** Serialises batch production and keeps up to `depth` batches in flight ahead of the consumer. */
class Prefetcher {
  private queue: Promise<EventBatch | null>[] = [];
  private tail: Promise<unknown> = Promise.resolve();

  /**
   * `concurrent`: the producer reserves its events synchronously when called,
   * so the next batch may start before the previous one finished (its reads
   * then overlap); otherwise batches are produced strictly one after another.
   */
  constructor(
    private readonly produce: () => EventBatch | null | Promise<EventBatch | null>,
    private readonly depth: number,
    private readonly concurrent = false,
  ) {}

  next(): Promise<EventBatch | null> {
    if (this.queue.length === 0) this.enqueue(false);
    const batch = this.queue.shift()!;
    while (this.queue.length < this.depth) this.enqueue(true);
    return batch;
  }

  private enqueue(background: boolean): void {
    const after = this.concurrent ? (background ? yieldToEventLoop() : Promise.resolve()) : this.tail.then(() => (background ? yieldToEventLoop() : undefined));
    const p = after.then(() => this.produce());
    this.tail = p.catch(() => undefined);
    // a read-ahead that fails is reported when (if) the consumer asks for that batch
    p.catch(() => undefined);
    this.queue.push(p);
  }
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

abstract class BaseSource implements BatchSource {
  readonly batchSize: number;
  abstract readonly numEvents: number;
  protected readonly o: Normalised;
  private prefetcher: Prefetcher | null = null;
  private generation = 0;
  protected closed = false;

  constructor(o: Normalised) {
    this.o = o;
    this.batchSize = o.batchSize;
  }

  /** Produce the next batch of epoch state `gen`, or null at the end. */
  protected abstract produce(): EventBatch | null | Promise<EventBatch | null>;
  protected abstract resetEpoch(epoch: number): void;
  /** true when produce() reserves its events synchronously (see Prefetcher) */
  protected concurrentProduce(): boolean {
    return false;
  }

  startEpoch(epoch: number): void {
    if (this.closed) throw new DataOptionsError('startEpoch on a closed batch source');
    this.generation++;
    this.resetEpoch(epoch);
    const gen = this.generation;
    this.prefetcher = new Prefetcher(() => (gen === this.generation ? this.produce() : null), this.o.prefetch, this.concurrentProduce());
  }

  next(): Promise<EventBatch | null> {
    if (this.closed) return Promise.reject(new DataOptionsError('next() on a closed batch source'));
    if (!this.prefetcher) this.startEpoch(0);
    return this.prefetcher!.next();
  }

  /** Full-size image buffers handed back by the consumer, reused for later batches. */
  private imagePool: Float32Array[] = [];

  recycle(batch: EventBatch): void {
    const images = batch.images;
    const full = this.o.batchSize * batch.shape.slice(1).reduce((a, b) => a * b, 1);
    if (images.length !== full || images.byteOffset !== 0 || images.buffer.byteLength !== full * 4) return;
    if (this.imagePool.length < this.o.prefetch + 2 && !this.imagePool.includes(images)) this.imagePool.push(images);
  }

  /** An image buffer for a batch (recycled when possible); contents are garbage until written. */
  protected imageBuffer(length: number): Float32Array {
    const i = this.imagePool.findIndex((a) => a.length === length);
    if (i >= 0) return this.imagePool.splice(i, 1)[0];
    return allocFloat32(length);
  }

  async close(): Promise<void> {
    this.imagePool = [];
    this.closed = true;
    this.generation++;
    this.prefetcher = null;
    this.release();
  }

  protected release(): void {}

  protected eventsPerEpoch(total: number): number {
    return this.o.dropRemainder ? Math.floor(total / this.o.batchSize) * this.o.batchSize : total;
  }
}

function imageShapeOf(layout: ImageLayout, b: number, c: number, h: number, w: number): [number, number, number, number] {
  return layout === 'NCHW' ? [b, c, h, w] : [b, h, w, c];
}

/** The seed's DummySet: U[0,1) images, random labels, weight = normweight = 1, psr = label. */
class DummySource extends BaseSource {
  readonly numEvents: number;
  private rng!: Rng;
  private emitted = 0;

  constructor(o: Normalised) {
    super(o);
    this.numEvents = this.eventsPerEpoch(o.dummyEvents);
  }

  protected resetEpoch(epoch: number): void {
    this.rng = new Rng(this.o.rank * 13, epoch);
    this.emitted = 0;
  }

  protected produce(): EventBatch | null {
    const b = Math.min(this.o.batchSize, this.numEvents - this.emitted);
    if (b <= 0) return null;
    this.emitted += b;
    const [c, h, w] = this.o.imageShape ?? [3, 64, 64];
    const images = this.imageBuffer(b * c * h * w);
    for (let i = 0; i < images.length; i++) images[i] = this.rng.uniform();
    const label = new Int32Array(b);
    const psr = new Uint8Array(b);
    for (let i = 0; i < b; i++) {
      label[i] = this.rng.int(2);
      psr[i] = label[i];
    }
    return {
      images,
      shape: imageShapeOf(this.o.layout, b, c, h, w),
      layout: this.o.layout,
      label,
      normweight: new Float32Array(b).fill(1),
      weight: new Float32Array(b).fill(1),
      psr,
    };
  }
}

/** A planned window: blocks ([start, end) event ranges) of one piece, read and permuted together. */
interface WindowPlan {
  piece: number;
  blocks: number[][];
}

/** Events currently held in memory, in the order they are handed out. */
interface Window {
  piece: Piece;
  /** float32 NCHW images of `count` events */
  images: Float32Array;
  /** file event index of each buffered event */
  eventIndex: Int32Array;
  order: Uint32Array;
  count: number;
  pos: number;
}

/**
 * Reads its pieces (file event ranges) in an epoch-dependent order. Each piece
 * is cut into blocks of contiguous events; blocks are visited in a shuffled
 * order and read into a window (half of `shuffleBufferBytes`), whose events
 * are permuted. The next window is read ahead into the other half while the
 * current one is served (for contiguous float32 files the read runs in the
 * libuv thread pool, so it overlaps training). The two window buffers are
 * reused, so steady-state reading touches no new memory; batches are copies.
 * When a whole file fits in a window this is an exact uniform permutation of
 * the file, as in the seed (which loads files whole).
 */
class FileSource extends BaseSource {
  readonly numEvents: number;
  private readonly pieces: Piece[];
  private readonly eventElems: number;
  private readonly blockEvents: number;
  private readonly windowEvents: number;
  private readonly dims: [number, number, number];
  private epoch = 0;
  private emitted = 0;
  private pieceOrder: Uint32Array = new Uint32Array(0);
  private plans: WindowPlan[] = [];
  private nextPlan = 0;
  private buffers: Float32Array[] = [];
  private flip = 0;
  private window: Window | null = null;
  private ahead: Promise<Window> | null = null;
  private loadsInFlight = 0;
  /** changes at every startEpoch; a produce() that awaited across it must not touch the new epoch's state */
  private epochToken = 0;
  /** unshuffled NCHW over directly readable files: batches are read straight from the files */
  private readonly straight: boolean;
  private straightPiece = 0;
  private straightPos = 0;

  constructor(pieces: Piece[], dims: [number, number, number], o: Normalised) {
    super(o);
    this.pieces = pieces;
    this.dims = dims;
    this.eventElems = dims[0] * dims[1] * dims[2];
    const eventBytes = this.eventElems * 4;
    this.numEvents = this.eventsPerEpoch(pieces.reduce((s, p) => s + p.end - p.start, 0));
    this.blockEvents = Math.max(1, Math.floor((4 * 1024 * 1024) / eventBytes));
    const largestPiece = Math.max(1, ...pieces.map((p) => p.end - p.start));
    this.straight = !o.shuffle && o.layout === 'NCHW' && pieces.every((p) => p.file.info.imageReader === 'direct');
    // unshuffled reading needs no window: one block at a time keeps the buffers cache-sized
    const perWindow = o.shuffle ? Math.max(1, Math.floor(o.shuffleBufferBytes / 2 / eventBytes / this.blockEvents)) : 1;
    this.windowEvents = Math.min(perWindow * this.blockEvents, Math.ceil(largestPiece / this.blockEvents) * this.blockEvents);
  }

  protected resetEpoch(epoch: number): void {
    this.epochToken++;
    this.epoch = epoch;
    const n = this.pieces.length;
    this.pieceOrder = this.o.shuffle ? new Rng(this.o.seed, epoch, 0x51ce).permutation(n) : Uint32Array.from({ length: n }, (_, i) => i);
    this.emitted = 0;
    this.plans = this.straight ? [] : this.planWindows();
    this.nextPlan = 0;
    this.straightPiece = 0;
    this.straightPos = this.pieces[this.pieceOrder[0]]?.start ?? 0;
    // a read of the previous epoch still in flight would write into the old buffers
    if (this.loadsInFlight > 0) this.buffers = [];
    this.window = null;
    this.ahead = null;
  }

  protected async produce(): Promise<EventBatch | null> {
    const target = Math.min(this.o.batchSize, this.numEvents - this.emitted);
    if (target <= 0) return null;
    const E = this.eventElems;
    const batch = {
      images: this.imageBuffer(target * E),
      label: new Int32Array(target),
      normweight: new Float32Array(target),
      weight: new Float32Array(target),
      psr: new Uint8Array(target),
    };
    let filled: number;
    if (this.straight) {
      this.emitted += target; // reserved synchronously: straight batches are produced concurrently
      filled = await this.fillStraight(batch, target);
    } else {
      const token = this.epochToken;
      try {
        filled = await this.fillFromWindows(batch, target);
      } catch (e) {
        if (e instanceof StaleEpoch) return null;
        throw e;
      }
      if (token !== this.epochToken) return null;
      this.emitted += filled;
    }
    if (filled === 0) return null;
    const [c, h, w] = this.dims;
    const cut = <T extends Float32Array | Int32Array | Uint8Array>(a: T, per = 1): T => (filled === target ? a : (a.subarray(0, filled * per) as T));
    return {
      images: cut(batch.images, E),
      shape: imageShapeOf(this.o.layout, filled, c, h, w),
      layout: this.o.layout,
      label: cut(batch.label),
      normweight: cut(batch.normweight),
      weight: cut(batch.weight),
      psr: cut(batch.psr),
    };
  }

  protected override concurrentProduce(): boolean {
    return this.straight;
  }

  /**
   * Reserve the next `target` events in file order (synchronously, before any
   * await), then read their images straight into the batch: one copy, done by
   * the kernel in the libuv thread pool, several batches in flight at once.
   */
  private async fillStraight(batch: BatchArrays, target: number): Promise<number> {
    const reads: Promise<void>[] = [];
    let filled = 0;
    while (filled < target && this.straightPiece < this.pieceOrder.length) {
      const piece = this.pieces[this.pieceOrder[this.straightPiece]];
      const take = Math.min(target - filled, piece.end - this.straightPos);
      if (take > 0) {
        copyScalars(piece.file.scalars(), this.straightPos, take, batch, filled);
        reads.push(piece.file.readImagesAsync(this.straightPos, take, batch.images, filled * this.eventElems));
        filled += take;
        this.straightPos += take;
      }
      if (this.straightPos >= piece.end && ++this.straightPiece < this.pieceOrder.length) {
        this.straightPos = this.pieces[this.pieceOrder[this.straightPiece]].start;
      }
    }
    await Promise.all(reads);
    return filled;
  }

  private async fillFromWindows(batch: BatchArrays, target: number): Promise<number> {
    const [c, h, w] = this.dims;
    const E = this.eventElems;
    let filled = 0;
    while (filled < target && (await this.ensureWindow())) {
      const win = this.window!;
      const sc = win.piece.file.scalars();
      const take = Math.min(target - filled, win.count - win.pos);
      if (!this.o.shuffle && this.o.layout === 'NCHW') {
        // unshuffled: the events are consecutive in the window, one copy for the run
        batch.images.set(win.images.subarray(win.pos * E, (win.pos + take) * E), filled * E);
        copyScalars(sc, win.eventIndex[win.pos], take, batch, filled);
        win.pos += take;
        filled += take;
        continue;
      }
      for (let k = 0; k < take; k++) {
        const local = win.order[win.pos + k];
        const slot = filled + k;
        const src = win.images.subarray(local * E, local * E + E);
        if (this.o.layout === 'NCHW') batch.images.set(src, slot * E);
        else chwToHwc(src, batch.images, slot * E, c, h, w);
        const ev = win.eventIndex[local];
        batch.label[slot] = sc.label[ev];
        batch.normweight[slot] = sc.normweight[ev];
        batch.weight[slot] = sc.weight[ev];
        batch.psr[slot] = sc.psr[ev];
      }
      win.pos += take;
      filled += take;
    }
    return filled;
  }

  /** Make sure a window with unread events is loaded (and the next one is being read); false at the end of the epoch. */
  private async ensureWindow(): Promise<boolean> {
    const token = this.epochToken;
    while (!this.window || this.window.pos >= this.window.count) {
      const next = this.ahead ?? this.startNextWindow();
      this.ahead = null;
      if (!next) return false;
      const window = await next;
      if (token !== this.epochToken) throw new StaleEpoch();
      this.window = window;
      this.ahead = this.startNextWindow();
    }
    return true;
  }

  private startNextWindow(): Promise<Window> | null {
    if (this.nextPlan >= this.plans.length) return null;
    const plan = this.plans[this.nextPlan++];
    if (this.buffers.length < 2) this.buffers = [allocFloat32(this.windowEvents * this.eventElems), allocFloat32(this.windowEvents * this.eventElems)];
    const buffer = this.buffers[this.flip];
    this.flip ^= 1;
    this.loadsInFlight++;
    const p = this.loadWindow(plan, buffer).finally(() => this.loadsInFlight--);
    p.catch(() => undefined); // reported when awaited
    return p;
  }

  /** Every piece (in epoch order) cut into windows of blocks, in shuffled block order. */
  private planWindows(): WindowPlan[] {
    const plans: WindowPlan[] = [];
    const perWindow = Math.max(1, Math.floor(this.windowEvents / this.blockEvents));
    for (const index of this.pieceOrder) {
      const piece = this.pieces[index];
      const blocks: number[][] = [];
      for (let s = piece.start; s < piece.end; s += this.blockEvents) blocks.push([s, Math.min(piece.end, s + this.blockEvents)]);
      if (this.o.shuffle) new Rng(this.o.seed, this.epoch, index, 0xb10c).shuffle(blocks);
      for (let i = 0; i < blocks.length; i += perWindow) plans.push({ piece: index, blocks: blocks.slice(i, i + perWindow) });
    }
    return plans;
  }

  private async loadWindow(plan: WindowPlan, buffer: Float32Array): Promise<Window> {
    const piece = this.pieces[plan.piece];
    const count = plan.blocks.reduce((s, [a, b]) => s + b - a, 0);
    const eventIndex = new Int32Array(count);
    const reads: Promise<void>[] = [];
    let at = 0;
    for (const [start, end] of mergeRuns(plan.blocks)) {
      reads.push(piece.file.readImagesAsync(start, end - start, buffer, at * this.eventElems));
      for (let e = start; e < end; e++) eventIndex[at++] = e;
    }
    await Promise.all(reads);
    const order = this.o.shuffle
      ? new Rng(this.o.seed, this.epoch, plan.piece, plan.blocks[0][0], 0x3b1d).permutation(count)
      : Uint32Array.from({ length: count }, (_, i) => i);
    return { piece, images: buffer, eventIndex, order, count, pos: 0 };
  }

  protected override release(): void {
    const seen = new Set<EventFile>();
    for (const p of this.pieces) {
      if (seen.has(p.file)) continue;
      seen.add(p.file);
      p.file.close();
    }
  }
}

/** Thrown inside a produce() whose epoch was replaced by startEpoch while it awaited a read. */
class StaleEpoch extends Error {}

/** A float32 array without zero-filling (it is about to be overwritten by a read). */
function allocFloat32(length: number): Float32Array {
  const buf = Buffer.allocUnsafeSlow(length * 4);
  return buf.byteOffset % 4 === 0 ? new Float32Array(buf.buffer, buf.byteOffset, length) : new Float32Array(length);
}

interface BatchArrays {
  images: Float32Array;
  label: Int32Array;
  normweight: Float32Array;
  weight: Float32Array;
  psr: Uint8Array;
}

function copyScalars(sc: EventScalars, start: number, count: number, batch: BatchArrays, at: number): void {
  batch.label.set(sc.label.subarray(start, start + count), at);
  batch.normweight.set(sc.normweight.subarray(start, start + count), at);
  batch.weight.set(sc.weight.subarray(start, start + count), at);
  batch.psr.set(sc.psr.subarray(start, start + count), at);
}

/** Merge consecutive [a,b) ranges that touch ([0,5),[5,9) → [0,9)), keeping order. */
function mergeRuns(blocks: number[][]): number[][] {
  const out: number[][] = [];
  for (const [a, b] of blocks) {
    const last = out[out.length - 1];
    if (last && last[1] === a) last[1] = b;
    else out.push([a, b]);
  }
  return out;
}

/** One event: [C,H,W] → [H,W,C] into `dst` at `offset`. */
export function chwToHwc(src: Float32Array, dst: Float32Array, offset: number, c: number, h: number, w: number): void {
  const plane = h * w;
  for (let ch = 0; ch < c; ch++) {
    const base = ch * plane;
    for (let p = 0; p < plane; p++) dst[offset + p * c + ch] = src[base + p];
  }
}
