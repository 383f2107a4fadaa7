/**
 * Allreduce between local ranks: hpcdl's ring allreduce (cluster/collectives)
 * against mpi4py Allreduce on Debian's OpenMPI, same sizes, same timing, in
 * the same run.
 *
 *   hpcdl bench allreduce [--ranks 2,4] [--sizes 1MB,18MB,100MB] [--reps R] [--rounds K] [--fp16] [--no-mpi] [--chunk ELEMENTS]
 *
 * Each case runs K rounds (default 3), alternating hpcdl and MPI, and keeps
 * each side's best round (the machine is shared; the best round is the one
 * least disturbed). Prints per case: time per call, bus bandwidth 2(n-1)/n × bytes / time (the
 * bytes each rank must move in a bandwidth-optimal allreduce), and
 * hpcdl/MPI speed ratio (MPI time / hpcdl time: 1 = parity, > 1 = hpcdl faster).
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { UsageError } from '../src/command-line';
import { benchArgs, positive, positiveList, stringValue } from './support/args';

interface Args {
  rounds: number;
  ranks: number[];
  sizes: number[]; // bytes
  reps: number | null;
  fp16: boolean;
  mpi: boolean;
  chunk?: number;
  json: boolean;
}

const UNITS: Record<string, number> = { B: 1, KB: 1e3, MB: 1e6, GB: 1e9 };

function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KB|MB|GB)?$/i.exec(s.trim());
  if (!m) throw new UsageError(`--sizes: ${JSON.stringify(s)} is not a size such as 18MB`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'B').toUpperCase()]);
}

const USAGE = `Usage: hpcdl bench allreduce [--ranks 2,4] [--sizes 1MB,18MB,100MB] [--reps R] [--rounds K] [--fp16] [--no-mpi] [--chunk ELEMENTS] [--json]
  ring allreduce between engines against mpi4py/OpenMPI on the same sizes`;

function parseArgs(argv: string[]): Args | null {
  const v = benchArgs(argv, {
    ranks: { type: 'string', default: '2,4' },
    sizes: { type: 'string', default: '1MB,18MB,100MB' },
    reps: { type: 'string' },
    rounds: { type: 'string', default: '3' },
    fp16: { type: 'boolean', default: false },
    'no-mpi': { type: 'boolean', default: false },
    chunk: { type: 'string' },
    json: { type: 'boolean', default: false },
  }, USAGE);
  if (!v) return null;
  const ranks = positiveList(stringValue(v, 'ranks'), '--ranks');
  if (ranks.some((n) => n < 2)) throw new UsageError('--ranks: every group needs at least 2 ranks');
  return {
    ranks,
    // 18MB stands for the HEP-CNN-64 gradient: 4.49 M float32
    sizes: stringValue(v, 'sizes').split(',').map((s) => (s.trim().toUpperCase() === '18MB' ? 17_960_000 : parseSize(s))),
    reps: typeof v.reps === 'string' ? positive(v.reps, '--reps') : null,
    rounds: positive(stringValue(v, 'rounds'), '--rounds'),
    fp16: v.fp16 === true,
    mpi: !v['no-mpi'],
    chunk: typeof v.chunk === 'string' ? positive(v.chunk, '--chunk') : undefined,
    json: v.json === true,
  };
}

/** calls per case: enough to average out noise, few for the large sizes */
function repsFor(bytes: number): number {
  return bytes <= 2e6 ? 50 : bytes <= 30e6 ? 20 : 5;
}

function rankCommand(): string[] {
  const here = __filename.endsWith('.ts') ? path.join(__dirname, 'support', 'allreduce-rank.ts') : path.join(__dirname, 'support', 'allreduce-rank.js');
  return here.endsWith('.ts') ? ['--import', 'tsx', here] : [here];
}

interface Timing {
  ms: number;
}

function runHpcdl(ranks: number, elements: number, reps: number, compression: 'none' | 'fp16', chunk?: number): Promise<Timing> {
  const base = { groupId: `bench-${randomBytes(4).toString('hex')}`, size: ranks, key: randomBytes(32).toString('hex'), elements, reps, compression, chunkElements: chunk };
  return new Promise((resolve, reject) => {
    const children: ReturnType<typeof spawn>[] = [];
    let result: Timing | null = null;
    let errors = '';
    let exited = 0;
    const start = (rank: number, master?: string) => {
      const child = spawn(process.execPath, [...rankCommand(), JSON.stringify({ ...base, rank, master })], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      child.stdout!.on('data', (d) => {
        out += d;
        let i: number;
        while ((i = out.indexOf('\n')) >= 0) {
          const line = out.slice(0, i);
          out = out.slice(i + 1);
          if (line.startsWith('LISTENING ')) for (let r = 1; r < ranks; r++) start(r, line.slice(10));
          else if (line.startsWith('{')) result = JSON.parse(line) as Timing;
        }
      });
      child.stderr!.on('data', (d) => (errors += d));
      child.on('close', (code) => {
        if (code !== 0) {
          // One rank down fails the case at once (the others fail too, naming it, or are stopped here).
          for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
          reject(new Error(`hpcdl rank ${rank} exited with ${code}:\n${errors}`));
          return;
        }
        if (++exited === ranks) (result ? resolve(result) : reject(new Error(`hpcdl ranks printed no timing:\n${errors}`)));
      });
    };
    start(0);
  });
}

function mpiScript(): string {
  const candidates = [path.join(__dirname, 'peers', 'mpi_allreduce.py'), path.join(__dirname, '..', '..', 'bench', 'peers', 'mpi_allreduce.py')];
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) throw new Error(`bench/peers/mpi_allreduce.py not found (looked in ${candidates.join(', ')})`);
  return found;
}

function runMpi(ranks: number, elements: number, reps: number): Timing | { error: string } {
  const r = spawnSync('mpirun', ['--allow-run-as-root', '--oversubscribe', '-n', String(ranks), '/usr/bin/python3', mpiScript(), String(elements), String(reps)], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  const line = (r.stdout ?? '').split('\n').find((l) => l.startsWith('{'));
  if (r.status !== 0 || !line) return { error: `mpirun failed (status ${r.status}${r.error ? `, ${r.error.message}` : ''}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}` };
  return JSON.parse(line) as Timing;
}

function fmtBytes(b: number): string {
  return b >= 1e6 ? `${(b / 1e6).toFixed(b >= 10e6 ? 0 : 1)} MB` : `${(b / 1e3).toFixed(0)} kB`;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<number> {
  const a = parseArgs(argv);
  if (!a) return 0;
  const rows: Record<string, unknown>[] = [];
  console.log(`allreduce of float32 between local ranks: hpcdl ring (TCP loopback${a.fp16 ? ', fp16 wire' : ''}) vs mpi4py Allreduce (Debian OpenMPI), same run`);
  console.log('ranks  size      hpcdl ms   busbw GB/s   mpi4py ms  busbw GB/s   speed vs MPI');
  for (const n of a.ranks) {
    for (const bytes of a.sizes) {
      const elements = Math.max(1, Math.round(bytes / 4));
      const reps = a.reps ?? repsFor(bytes);
      let mine: Timing | null = null;
      let peer: Timing | { error: string } = { error: 'skipped (--no-mpi)' };
      for (let round = 0; round < a.rounds; round++) {
        const t = await runHpcdl(n, elements, reps, a.fp16 ? 'fp16' : 'none', a.chunk);
        if (!mine || t.ms < mine.ms) mine = t;
        if (!a.mpi) continue;
        const p = runMpi(n, elements, reps);
        if ('error' in p) peer = 'ms' in peer ? peer : p;
        else if (!('ms' in peer) || p.ms < peer.ms) peer = p;
      }
      if (!mine) throw new Error('--rounds must be >= 1');
      const bus = (ms: number) => ((2 * (n - 1)) / n) * elements * 4 / (ms / 1e3) / 1e9;
      const peerMs = 'ms' in peer ? peer.ms : null;
      const ratio = peerMs !== null ? peerMs / mine.ms : null;
      rows.push({ ranks: n, bytes: elements * 4, hpcdl_ms: mine.ms, mpi_ms: peerMs, ratio, reps, compression: a.fp16 ? 'fp16' : 'none', mpi_error: 'error' in peer ? peer.error : undefined });
      console.log(
        `${String(n).padEnd(6)} ${fmtBytes(elements * 4).padEnd(9)} ${mine.ms.toFixed(2).padStart(8)}   ${bus(mine.ms).toFixed(2).padStart(10)}   ${peerMs !== null ? peerMs.toFixed(2).padStart(9) : '        -'}  ${peerMs !== null ? bus(peerMs).toFixed(2).padStart(10) : '         -'}   ${ratio !== null ? `${ratio.toFixed(2)}x` : 'error' in peer ? peer.error : '-'}`,
      );
    }
  }
  if (a.json) console.log(JSON.stringify(rows));
  return 0;
}

if (require.main === module) main().then((code) => process.exit(code), (err) => {
  console.error(err);
  process.exit(1);
});
