/**
 * A minimal, read-only walk of HDF5 file metadata that finds where a
 * contiguous dataset's bytes start in the file, so that the input pipeline can
 * read image batches with plain positional reads (one copy, in the libuv
 * thread pool) instead of going through the wasm heap.
 *
 * It understands what h5py (superblock v0, symbol-table groups, v1 object
 * headers) and h5wasm/HDF5 ≥ 1.10 (superblock v2/v3, compact link messages, v2
 * object headers) write. Anything else (dense link storage, chunked or
 * compact layouts, external files) returns null and the caller uses h5wasm,
 * which handles every case. Callers also verify the located bytes against
 * an h5wasm read before trusting them.
 */
import * as fs from 'node:fs';

export interface ContiguousExtent {
  /** absolute file offset of the first byte of the dataset */
  offset: number;
  /** bytes of raw data */
  size: number;
}

const UNDEFINED_ADDRESS = -1;

class Reader {
  private readonly fd: number;
  readonly fileSize: number;
  offsetSize = 8;
  lengthSize = 8;
  base = 0;

  constructor(fd: number) {
    this.fd = fd;
    this.fileSize = fs.fstatSync(fd).size;
  }

  bytes(at: number, n: number): Buffer {
    if (at < 0 || at + n > this.fileSize) throw new LayoutError(`read of ${n} bytes at ${at} is past the end of the file`);
    const b = Buffer.alloc(n);
    fs.readSync(this.fd, b, 0, n, at);
    return b;
  }

  /** little-endian unsigned integer of `size` bytes; all-ones means "undefined address" */
  uint(b: Buffer, at: number, size: number): number {
    let allOnes = true;
    let v = 0;
    for (let i = size - 1; i >= 0; i--) {
      const byte = b[at + i];
      if (byte !== 0xff) allOnes = false;
      v = v * 256 + byte;
    }
    if (allOnes && size >= 4) return UNDEFINED_ADDRESS;
    if (!Number.isSafeInteger(v)) throw new LayoutError('address too large');
    return v;
  }
}

class LayoutError extends Error {}

interface Message {
  type: number;
  data: Buffer;
}

/** Locate a contiguous dataset (e.g. 'data' or 'all_events/hist'); null when not contiguous or not understood. */
export function findContiguousDataset(filePath: string, datasetPath: string): ContiguousExtent | null {
  let fd: number | null = null;
  try {
    fd = fs.openSync(filePath, 'r');
    const r = new Reader(fd);
    let objectAddress = rootObjectHeader(r);
    for (const part of datasetPath.split('/').filter(Boolean)) {
      const child = lookupLink(r, objectAddress, part);
      if (child === null) return null;
      objectAddress = child;
    }
    return contiguousLayout(r, objectHeaderMessages(r, objectAddress));
  } catch (e) {
    if (e instanceof LayoutError) return null;
    throw e;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

function rootObjectHeader(r: Reader): number {
  for (let at = 0; at + 64 <= r.fileSize; at = at === 0 ? 512 : at * 2) {
    const sb = r.bytes(at, Math.min(r.fileSize - at, 128));
    if (!sb.subarray(0, 8).equals(SIGNATURE)) continue;
    const version = sb[8];
    if (version === 0 || version === 1) {
      r.offsetSize = sb[13];
      r.lengthSize = sb[14];
      const O = r.offsetSize;
      let p = 24 + (version === 1 ? 4 : 0);
      r.base = r.uint(sb, p, O);
      p += 4 * O; // base, free-space, end-of-file, driver info
      // root group symbol table entry: link name offset, object header address
      return r.base + r.uint(sb, p + O, O);
    }
    if (version === 2 || version === 3) {
      r.offsetSize = sb[9];
      r.lengthSize = sb[10];
      const O = r.offsetSize;
      r.base = r.uint(sb, 12, O);
      return r.base + r.uint(sb, 12 + 3 * O, O);
    }
    throw new LayoutError(`superblock version ${version}`);
  }
  throw new LayoutError('no superblock');
}

/** All messages of an object header (v1 or v2), following continuation blocks. */
function objectHeaderMessages(r: Reader, address: number): Message[] {
  const head = r.bytes(address, 16);
  const messages: Message[] = [];
  if (head.subarray(0, 4).toString('latin1') === 'OHDR') {
    const flags = head[5];
    let p = 6;
    if (flags & 0x20) p += 16;
    if (flags & 0x10) p += 4;
    const sizeBytes = 1 << (flags & 3);
    const prefix = r.bytes(address, p + sizeBytes);
    const chunkSize = r.uint(prefix, p, sizeBytes);
    const blocks: [number, number][] = [[address + p + sizeBytes, chunkSize]];
    while (blocks.length) {
      const [start, len] = blocks.shift()!;
      const b = r.bytes(start, len);
      let q = 0;
      const creationOrder = (flags & 0x04) !== 0;
      while (q + 4 + (creationOrder ? 2 : 0) <= b.length) {
        const type = b[q];
        const size = b.readUInt16LE(q + 1);
        q += 4 + (creationOrder ? 2 : 0);
        if (q + size > b.length) break;
        const data = b.subarray(q, q + size);
        q += size;
        if (type === 0x10) {
          const at = r.uint(data, 0, r.offsetSize);
          const n = r.uint(data, r.offsetSize, r.lengthSize);
          const sig = r.bytes(at, 4).toString('latin1');
          if (sig !== 'OCHK') throw new LayoutError('bad continuation block');
          blocks.push([at + 4, n - 8]); // signature and checksum
        } else {
          messages.push({ type, data });
        }
      }
    }
    return messages;
  }
  if (head[0] !== 1) throw new LayoutError(`object header version ${head[0]}`);
  const count = head.readUInt16LE(2);
  const headerSize = head.readUInt32LE(8);
  const blocks: [number, number][] = [[address + 16, headerSize]];
  while (blocks.length && messages.length < count) {
    const [start, len] = blocks.shift()!;
    const b = r.bytes(start, len);
    let q = 0;
    while (q + 8 <= b.length) {
      const type = b.readUInt16LE(q);
      const size = b.readUInt16LE(q + 2);
      q += 8;
      if (q + size > b.length) break;
      const data = b.subarray(q, q + size);
      q += size;
      if (type === 0x10) blocks.push([r.uint(data, 0, r.offsetSize), r.uint(data, r.offsetSize, r.lengthSize)]);
      else messages.push({ type, data });
    }
  }
  return messages;
}

/** Object header address of link `name` in the group at `groupAddress`, or null. */
function lookupLink(r: Reader, groupAddress: number, name: string): number | null {
  const messages = objectHeaderMessages(r, groupAddress);
  for (const m of messages) {
    if (m.type === 0x06) {
      const link = parseLinkMessage(r, m.data);
      if (link && link.name === name) return link.address;
    }
  }
  const symbolTable = messages.find((m) => m.type === 0x11);
  if (symbolTable) {
    const btree = r.uint(symbolTable.data, 0, r.offsetSize);
    const heap = r.uint(symbolTable.data, r.offsetSize, r.offsetSize);
    return lookupSymbolTable(r, r.base + btree, localHeapData(r, r.base + heap), name);
  }
  const linkInfo = messages.find((m) => m.type === 0x02);
  if (linkInfo) {
    const flags = linkInfo.data[1];
    const heapAt = 2 + (flags & 1 ? 8 : 0);
    if (r.uint(linkInfo.data, heapAt, r.offsetSize) !== UNDEFINED_ADDRESS) throw new LayoutError('dense link storage');
  }
  return null;
}

function parseLinkMessage(r: Reader, d: Buffer): { name: string; address: number } | null {
  if (d[0] !== 1) return null;
  const flags = d[1];
  let p = 2;
  let linkType = 0;
  if (flags & 0x08) linkType = d[p++];
  if (flags & 0x04) p += 8;
  if (flags & 0x10) p += 1;
  const lenBytes = 1 << (flags & 3);
  const nameLen = r.uint(d, p, lenBytes);
  p += lenBytes;
  const name = d.subarray(p, p + nameLen).toString('utf8');
  p += nameLen;
  if (linkType !== 0) return null; // soft or external link
  return { name, address: r.base + r.uint(d, p, r.offsetSize) };
}

function localHeapData(r: Reader, address: number): Buffer {
  const O = r.offsetSize;
  const L = r.lengthSize;
  const h = r.bytes(address, 8 + 2 * L + O);
  if (h.subarray(0, 4).toString('latin1') !== 'HEAP') throw new LayoutError('bad local heap');
  const size = r.uint(h, 8, L);
  const dataAddress = r.uint(h, 8 + 2 * L, O);
  return r.bytes(r.base + dataAddress, size);
}

function lookupSymbolTable(r: Reader, nodeAddress: number, heap: Buffer, name: string): number | null {
  const O = r.offsetSize;
  const L = r.lengthSize;
  const head = r.bytes(nodeAddress, 8 + 2 * O);
  const sig = head.subarray(0, 4).toString('latin1');
  if (sig === 'SNOD') {
    const count = head.readUInt16LE(6);
    const entrySize = 2 * O + 24;
    const entries = r.bytes(nodeAddress + 8, count * entrySize);
    for (let i = 0; i < count; i++) {
      const nameOffset = r.uint(entries, i * entrySize, O);
      const end = heap.indexOf(0, nameOffset);
      if (heap.subarray(nameOffset, end < 0 ? heap.length : end).toString('utf8') === name) {
        return r.base + r.uint(entries, i * entrySize + O, O);
      }
    }
    return null;
  }
  if (sig !== 'TREE' || head[4] !== 0) throw new LayoutError('bad group B-tree');
  const used = head.readUInt16LE(6);
  const body = r.bytes(nodeAddress + 8 + 2 * O, (used + 1) * L + used * O);
  for (let i = 0; i < used; i++) {
    const child = r.uint(body, L + i * (L + O), O);
    const found = lookupSymbolTable(r, r.base + child, heap, name);
    if (found !== null) return found;
  }
  return null;
}

function contiguousLayout(r: Reader, messages: Message[]): ContiguousExtent | null {
  if (messages.some((m) => m.type === 0x07)) return null; // external data files
  const layout = messages.find((m) => m.type === 0x08);
  if (!layout) return null;
  const d = layout.data;
  const version = d[0];
  if (version !== 3 && version !== 4) return null;
  if (d[1] !== 1) return null; // not contiguous
  const address = r.uint(d, 2, r.offsetSize);
  const size = r.uint(d, 2 + r.offsetSize, r.lengthSize);
  if (address === UNDEFINED_ADDRESS) return null; // never written: HDF5 serves fill values
  const offset = r.base + address;
  if (offset + size > r.fileSize) return null;
  return { offset, size };
}
