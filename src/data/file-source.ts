/** Batches from event files: shuffle windows read ahead, or straight reads when unshuffled. */
import { allocFloat32, BaseSource, imageShapeOf } from './batch-source';
import type { Piece } from './discovery';
import type { EventFile, EventScalars } from './events';
import { checkImages } from './non-finite';
import { Rng } from './rng';
import type { Normalised } from './source-options';
import type { EventBatch } from './types';

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
export class FileSource extends BaseSource {
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
        const [first, at] = [this.straightPos, filled * this.eventElems];
        reads.push(piece.file.readImagesAsync(first, take, batch.images, at).then(() => this.checkRead(batch.images, at, take, piece.file, first)));
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
    at = 0;
    for (const [start, end] of mergeRuns(plan.blocks)) {
      this.checkRead(buffer, at * this.eventElems, end - start, piece.file, start);
      at += end - start;
    }
    const order = this.o.shuffle
      ? new Rng(this.o.seed, this.epoch, plan.piece, plan.blocks[0][0], 0x3b1d).permutation(count)
      : Uint32Array.from({ length: count }, (_, i) => i);
    return { piece, images: buffer, eventIndex, order, count, pos: 0 };
  }

  /** Refuse non-finite image values as they are read (skip mode left such events out at open). */
  private checkRead(images: Float32Array, offset: number, count: number, file: EventFile, firstEvent: number): void {
    if (this.o.nonFinite === 'refuse') checkImages(images, offset, count, this.eventElems, file, firstEvent);
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
