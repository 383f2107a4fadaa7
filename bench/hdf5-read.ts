/**
 * HDF5 batch-read throughput: hpcdl's input pipeline vs h5py on the same
 * seed-layout file (3×64×64 float32 images), in the same run.
 *
 *   npx tsx bench/hdf5-read.ts [--events N] [--batch B] [--rounds R] [--file F] [--shuffle] [--compressed]
 *
 * Both sides read every event once per pass in 64-image batches (images plus
 * label/normweight/weight/psr); each round runs h5py then hpcdl, alternating,
 * and the best pass of each side is reported (the machine may be shared).
 * hpcdl is measured twice: as a plain consumer that drops its batches, and as
 * one that hands them back with `recycle()` (as the training loop does once
 * the batch is in tensors), which lets the source reuse the image buffers.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { openEventSource, writeEventFile, EventFile } from '../src/data/index';
import { benchArgs, positive, stringValue } from './support/args';

interface BenchArgs {
  events: number;
  batch: number;
  rounds: number;
  passes: number;
  file?: string;
  shuffle: boolean;
  /** write the bench file chunked (64 events) + gzip 4: exercises the h5wasm path */
  compressed: boolean;
}

const USAGE = `Usage: hpcdl bench hdf5-read [--events 4096] [--batch 64] [--rounds 3] [--passes 3] [--file F] [--shuffle] [--compressed]
  HDF5 event reading: hpcdl's reader against h5py on the same file`;

function parseArgs(argv: string[]): BenchArgs | null {
  const flags = benchArgs(argv, {
    events: { type: 'string', default: '4096' },
    batch: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    passes: { type: 'string', default: '3' },
    file: { type: 'string' },
    shuffle: { type: 'boolean', default: false },
    compressed: { type: 'boolean', default: false },
  }, USAGE);
  if (!flags) return null;
  return {
    events: positive(stringValue(flags, 'events'), '--events'),
    batch: positive(stringValue(flags, 'batch'), '--batch'),
    rounds: positive(stringValue(flags, 'rounds'), '--rounds'),
    passes: positive(stringValue(flags, 'passes'), '--passes'),
    file: typeof flags.file === 'string' ? flags.file : undefined,
    shuffle: flags.shuffle === true,
    compressed: flags.compressed === true,
  };
}

function findPeerScript(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const p = path.join(dir, 'bench', 'peers', 'h5py_read.py');
    if (fs.existsSync(p)) return p;
    if (path.dirname(dir) === dir) throw new Error('bench/peers/h5py_read.py not found above ' + __dirname);
  }
}

async function makeFile(dir: string, events: number, compressed: boolean): Promise<string> {
  const file = path.join(dir, 'bench_train.h5');
  const E = 3 * 64 * 64;
  const data = new Float32Array(events * E);
  for (let i = 0; i < data.length; i++) data[i] = (i % 9973) / 9973;
  const label = Int32Array.from({ length: events }, (_, i) => i % 2);
  const ones = new Float32Array(events).fill(1);
  await writeEventFile(file, { data, imageShape: [3, 64, 64], label, weight: ones, normweight: ones, psr: new Uint8Array(events) }, compressed ? { chunkEvents: 64, gzip: 4 } : {});
  return file;
}

function runH5py(script: string, file: string, batch: number, passes: number): { rate: number; version: string } {
  const out = execFileSync('/usr/bin/python3', [script, file, String(batch), String(passes)], { encoding: 'utf8' });
  const r = JSON.parse(out.trim().split('\n').pop()!);
  return { rate: r.images_per_s, version: r.h5py };
}

async function runHpcdl(file: string, batch: number, passes: number, shuffle: boolean, recycle: boolean): Promise<number> {
  const src = await openEventSource({ files: [file], split: 'train', batchSize: batch, layout: 'NCHW', shuffle, log: () => {} });
  let best = 0;
  try {
    for (let pass = 0; pass < passes; pass++) {
      src.startEpoch(pass);
      const t0 = performance.now();
      let n = 0;
      for (let b = await src.next(); b; b = await src.next()) {
        n += b.label.length;
        if (recycle) src.recycle!(b);
      }
      best = Math.max(best, n / ((performance.now() - t0) / 1000));
    }
  } finally {
    await src.close();
  }
  return best;
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (!args) return 0;
  const script = findPeerScript();
  const dir = args.file ? null : fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-bench-'));
  try {
    const file = args.file ?? (await makeFile(dir!, args.events, args.compressed));
    const ev = await EventFile.open(file);
    const { numEvents, channels, height, width, imageReader } = ev.info;
    ev.close();
    console.log(`file: ${file} (${numEvents} events of ${channels}x${height}x${width} float32, ${(fs.statSync(file).size / 2 ** 20).toFixed(0)} MiB), batch ${args.batch}`);
    let peer = 0;
    let ours = 0;
    let oursRecycled = 0;
    let version = '';
    for (let round = 0; round < args.rounds; round++) {
      const p = runH5py(script, file, args.batch, args.passes);
      version = p.version;
      peer = Math.max(peer, p.rate);
      ours = Math.max(ours, await runHpcdl(file, args.batch, args.passes, args.shuffle, false));
      oursRecycled = Math.max(oursRecycled, await runHpcdl(file, args.batch, args.passes, args.shuffle, true));
    }
    console.log(`h5py ${version} (sequential slices): ${peer.toFixed(0)} images/s`);
    const mode = `${args.shuffle ? 'shuffled' : 'sequential'}, ${imageReader} reads, prefetch 2`;
    console.log(`hpcdl openEventSource (${mode}): ${ours.toFixed(0)} images/s`);
    console.log(`hpcdl openEventSource (${mode}, consumer recycles batches): ${oursRecycled.toFixed(0)} images/s`);
    console.log(`ratio hpcdl/h5py: ${(ours / peer).toFixed(2)} (${(oursRecycled / peer).toFixed(2)} with recycling)`);
    return 0;
  } finally {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`hdf5-read: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    },
  );
}
