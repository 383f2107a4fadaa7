/**
 * No-op task throughput and round-trip latency: hpcdl (controller + 2 engine
 * processes, through the real client) vs Dask distributed and ipyparallel
 * (2 worker processes each), side by side in one run.
 *
 *   hpcdl bench cluster-noop [--tasks 5000] [--repeats 3] [--latency-samples 1000]
 *                            [--no-peers] [--no-light] [--no-floor]
 *
 * Throughput = tasks / seconds for one map of `--tasks` no-op tasks (median of
 * `--repeats`, after a warm-up); latency = sequential submit→result round trips.
 * The headline is the first line: the real client with Cluster.start's
 * defaults (controller in the client's process) and 2 real `hpcdl engine`
 * processes. The "controller alone" line runs a separate `hpcdl controller`
 * process, a bare protocol client over WebSocket and lightweight protocol
 * engines that run the no-op inline (bench/support/cluster-peers.ts), to show
 * the controller's own throughput ceiling apart from the engines' worker-thread
 * cost; it is not the headline.
 * The "floor" line is the same round trip with no hpcdl code at all
 * (bench/support/latency-floor.ts): what the kernel, the VM and Node cost here.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Cluster } from '../cluster/client';
import { readConnectionFile } from '../cluster/protocol';
import { LightClient } from './support/cluster-peers';
import { measureFloor } from './support/latency-floor';
import { benchArgs, positive, stringValue } from './support/args';
import { packageRoot } from '../src/package-info';

interface Figures {
  system: string;
  detail: string;
  throughput: number;
  runs: number[];
  p50_ms: number;
  p99_ms: number;
}

const USAGE = `Usage: hpcdl bench cluster-noop [--tasks 5000] [--repeats 3] [--latency-samples 1000] [--no-floor] [--no-light] [--no-peers]
  no-op task throughput and round-trip latency: hpcdl against Dask and ipyparallel in one run`;

const FLAGS = {
  tasks: { type: 'string', default: '5000' },
  repeats: { type: 'string', default: '3' },
  'latency-samples': { type: 'string', default: '1000' },
  'no-floor': { type: 'boolean', default: false },
  'no-light': { type: 'boolean', default: false },
  'no-peers': { type: 'boolean', default: false },
} as const;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

function nodeCommand(script: string, args: string[]): { command: string; args: string[] } {
  const fromSource = path.extname(script) === '.ts';
  const pre = fromSource ? ['--import', pathToFileURL(require.resolve('tsx')).href] : [];
  return { command: process.execPath, args: [...pre, script, ...args] };
}

async function benchHpcdl(tasks: number, repeats: number, samples: number, dir: string): Promise<Figures> {
  const cluster = await Cluster.start({ engines: 2, profileDir: dir, clusterId: 'bench-noop', output: 'drop' as never, handleSigint: false, log: () => {} });
  try {
    const view = cluster.balanced();
    const noop = () => null;
    await view.map(noop, Array.from({ length: 1000 }, (_, i) => i));
    const runs: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = process.hrtime.bigint();
      const out = await view.map(noop, Array.from({ length: tasks }, (_, i) => i));
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (out.length !== tasks) throw new Error(`map returned ${out.length} of ${tasks} results`);
      runs.push(tasks / s);
    }
    const lat: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = process.hrtime.bigint();
      await view.submit(noop);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    lat.sort((a, b) => a - b);
    return { system: 'hpcdl', detail: 'Cluster.start defaults: in-process controller, 2 `hpcdl engine` processes (worker threads)', throughput: median(runs), runs, p50_ms: percentile(lat, 0.5), p99_ms: percentile(lat, 0.99) };
  } finally {
    await cluster.close();
  }
}

/** Controller process + one process hosting 2 lightweight engines + a bare protocol client. */
async function benchControllerAlone(tasks: number, repeats: number, samples: number, dir: string): Promise<Figures> {
  const children: ChildProcess[] = [];
  try {
    const ctlCmd = nodeCommand(path.join(__dirname, '..', 'cluster', 'controller', `cli${path.extname(__filename)}`), ['--cluster-id', 'bench-light', '--profile-dir', dir]);
    const ctl = spawn(ctlCmd.command, ctlCmd.args, { stdio: ['ignore', 'pipe', 'ignore'] });
    children.push(ctl);
    await new Promise<void>((resolve, reject) => {
      ctl.stdout!.on('data', (d) => String(d).includes('listening on') && resolve());
      ctl.once('exit', (code) => reject(new Error(`controller exited with ${code}`)));
    });
    const file = path.join(dir, 'clusters', 'bench-light.json');
    const engCmd = nodeCommand(path.join(__dirname, 'support', `cluster-peers${path.extname(__filename)}`), ['engines', '--connect', file, '--count', '2']);
    const eng = spawn(engCmd.command, engCmd.args, { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(eng);
    await new Promise<void>((resolve) => eng.stdout!.on('data', (d) => String(d).includes('registered') && resolve()));
    const info = readConnectionFile(file);
    const client = new LightClient(info.url, info.key);
    await client.connect();
    let seq = 0;
    const runMap = async (n: number) => {
      const ids = Array.from({ length: n }, () => `m${seq++}`);
      const before = client.results.size;
      await client.submit(ids.map((task_id) => ({ task_id, source: '() => null' })));
      await new Promise<void>((resolve) => {
        client.onResult = () => client.results.size - before === n && resolve();
        if (client.results.size - before === n) resolve();
      });
    };
    await runMap(1000);
    const runs: number[] = [];
    for (let r = 0; r < repeats; r++) {
      const t0 = process.hrtime.bigint();
      await runMap(tasks);
      runs.push(tasks / (Number(process.hrtime.bigint() - t0) / 1e9));
    }
    client.onResult = null;
    const lat: number[] = [];
    for (let i = 0; i < samples; i++) {
      const id = `l${i}`;
      const t0 = process.hrtime.bigint();
      void client.submit([{ task_id: id, source: '() => null' }]);
      await client.result(id);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    lat.sort((a, b) => a - b);
    client.close();
    return { system: 'hpcdl controller alone', detail: 'separate controller process, bare protocol client over WebSocket, lightweight inline engines (no worker threads)', throughput: median(runs), runs, p50_ms: percentile(lat, 0.5), p99_ms: percentile(lat, 0.99) };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  }
}

function benchPython(script: string, tasks: number, repeats: number, samples: number): Figures | string {
  const python = '/usr/bin/python3';
  if (!fs.existsSync(python)) return `${python} not found`;
  const r = spawnSync(python, [script, '--tasks', String(tasks), '--repeats', String(repeats), '--latency-samples', String(samples)], {
    encoding: 'utf8',
    timeout: 15 * 60 * 1000,
    cwd: os.tmpdir(),
  });
  const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
  if (r.status !== 0 || !line) return `${path.basename(script)} failed (exit ${r.status}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`;
  const j = JSON.parse(line);
  return { system: j.system, detail: `${j.version}, 2 worker processes`, throughput: j.throughput, runs: j.throughput_runs, p50_ms: j.p50_ms, p99_ms: j.p99_ms };
}

function row(f: Figures): string {
  return `${f.system.padEnd(24)} ${f.throughput.toFixed(0).padStart(9)} tasks/s   p50 ${f.p50_ms.toFixed(3).padStart(8)} ms   p99 ${f.p99_ms.toFixed(3).padStart(8)} ms   (${f.detail}; runs ${f.runs.map((x) => x.toFixed(0)).join(', ')})`;
}

export async function main(argv: string[]): Promise<number> {
  const flags = benchArgs(argv, FLAGS, USAGE);
  if (!flags) return 0;
  const tasks = positive(stringValue(flags, 'tasks'), '--tasks');
  const repeats = positive(stringValue(flags, 'repeats'), '--repeats');
  const samples = positive(stringValue(flags, 'latency-samples'), '--latency-samples');
  const peerSamples = Math.min(samples, 200);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  console.log(`no-op tasks: ${tasks} per map, median of ${repeats} maps; latency: sequential round trips (hpcdl ${samples}, peers ${peerSamples})`);
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  try {
    const results: Figures[] = [];
    const hp = await benchHpcdl(tasks, repeats, samples, dir);
    console.log(row(hp));
    results.push(hp);
    let floor: { p50_ms: number; p99_ms: number } | null = null;
    if (!flags['no-floor']) {
      floor = await measureFloor(samples);
      console.log(`${'floor (no hpcdl code)'.padEnd(24)} ${''.padStart(9)}          p50 ${floor.p50_ms.toFixed(3).padStart(8)} ms   p99 ${floor.p99_ms.toFixed(3).padStart(8)} ms   (same processes, ws + worker thread + JSON; no signing, scheduling, journal)`);
    }
    if (!flags['no-light']) {
      const light = await benchControllerAlone(tasks, repeats, samples, dir);
      console.log(row(light));
    }
    if (!flags['no-peers']) {
      const root = packageRoot();
      for (const script of ['dask_noop.py', 'ipp_noop.py']) {
        const f = benchPython(path.join(root, 'bench', 'peers', script), tasks, repeats, peerSamples);
        if (typeof f === 'string') console.log(`${script}: skipped: ${f}`);
        else {
          console.log(row(f));
          results.push(f);
        }
      }
    }
    for (const peer of results.slice(1)) {
      console.log(
        `ratio hpcdl / ${peer.system}: throughput ${(hp.throughput / peer.throughput).toFixed(1)}x, p50 latency ${(peer.p50_ms / hp.p50_ms).toFixed(1)}x lower, p99 ${(peer.p99_ms / hp.p99_ms).toFixed(1)}x lower`,
      );
    }
    if (floor) console.log(`hpcdl p50 / floor p50: ${(hp.p50_ms / floor.p50_ms).toFixed(2)}x (what hpcdl itself adds: ${((hp.p50_ms - floor.p50_ms) * 1000).toFixed(0)} µs)`);
    console.log(
      `headline (Cluster.start defaults, 2 hpcdl engine processes): ${hp.throughput.toFixed(0)} tasks/s, p50 ${hp.p50_ms.toFixed(3)} ms, p99 ${hp.p99_ms.toFixed(3)} ms; ` +
        `targets: >= 10000 tasks/s (${hp.throughput >= 10000 ? 'met' : 'NOT met'}), p50 <= 0.5 ms (${hp.p50_ms <= 0.5 ? 'met' : 'NOT met'})`,
    );
    return 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
    console.error(err);
    process.exit(1);
  });
}
