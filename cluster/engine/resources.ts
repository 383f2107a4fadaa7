/**
 * Node resource sampling from /proc (Linux) and nvidia-smi: per-core CPU, memory,
 * load, network and disk throughput, GPUs. Rates are computed between two
 * consecutive samples, so the first sample reports zero throughput.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';

export interface GpuSample {
  index: number;
  name: string;
  /** null when nvidia-smi cannot tell ([N/A], e.g. a GPU in MIG mode) */
  utilization_percent: number | null;
  memory_used_bytes: number | null;
  memory_total_bytes: number;
}

export interface TaskResourceUsage {
  task_id: string;
  cpu_percent: number;
  memory_bytes: number;
  elapsed_ms: number;
}

export type NodeResourceSample = {
  time_ms: number;
  host: string;
  cpu: { cores: number[]; total_percent: number };
  memory: { total_bytes: number; available_bytes: number; used_bytes: number; percent: number };
  load: [number, number, number];
  network: { rx_bytes_per_s: number; tx_bytes_per_s: number };
  disk: { read_bytes_per_s: number; write_bytes_per_s: number };
  /** empty when the node has no NVIDIA GPU (or nvidia-smi is absent) — never an error */
  gpus: GpuSample[];
  /** the engine process itself (its task threads included): CPU since the previous sample, percent of one core, and RSS */
  engine: { pid: number; rss_bytes: number; cpu_percent: number };
  tasks: TaskResourceUsage[];
};

interface CpuTimes {
  busy: number;
  total: number;
}

interface Counters {
  time: number;
  cores: CpuTimes[];
  all: CpuTimes;
  rx: number;
  tx: number;
  diskRead: number;
  diskWrite: number;
}

function readText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function parseProcStat(text: string): { all: CpuTimes; cores: CpuTimes[] } {
  const cores: CpuTimes[] = [];
  let all: CpuTimes = { busy: 0, total: 0 };
  for (const line of text.split('\n')) {
    const m = /^cpu(\d*)\s+(.*)$/.exec(line);
    if (!m) continue;
    const v = m[2].trim().split(/\s+/).map(Number);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    const total = v.slice(0, 8).reduce((a, b) => a + b, 0); // guest time is already in user
    const times = { busy: total - idle, total };
    if (m[1] === '') all = times;
    else cores[Number(m[1])] = times;
  }
  return { all, cores };
}

export function parseMeminfo(text: string): { total: number; available: number } {
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : 0;
  };
  const total = field('MemTotal') || os.totalmem();
  const available = field('MemAvailable') || os.freemem();
  return { total, available };
}

/** Sum of received/transmitted bytes over all interfaces except loopback. */
export function parseNetDev(text: string): { rx: number; tx: number } {
  let rx = 0;
  let tx = 0;
  for (const line of text.split('\n').slice(2)) {
    const [iface, rest] = line.split(':');
    if (!rest || iface.trim() === 'lo') continue;
    const v = rest.trim().split(/\s+/).map(Number);
    rx += v[0] || 0;
    tx += v[8] || 0;
  }
  return { rx, tx };
}

/** Bytes read/written on whole disks (partitions, loop and ram devices skipped to avoid double counting). */
export function parseDiskstats(text: string): { read: number; write: number } {
  let read = 0;
  let write = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const name = f[2];
    if (/^(loop|ram|dm-|sr)/.test(name)) continue;
    if (/^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+)\d+$/.test(name) || /^(nvme\d+n\d+|mmcblk\d+)p\d+$/.test(name)) continue;
    read += Number(f[5]) * 512; // sectors read
    write += Number(f[9]) * 512; // sectors written
  }
  return { read, write };
}

/**
 * A value of nvidia-smi's CSV: a number (units, if any, stripped: "37 %",
 * "1024 MiB"), or null for what the driver cannot tell — "[N/A]" (MIG mode's
 * utilisation, drivers since ~440), "[Not Supported]" (older drivers,
 * GeForce), "[Unknown Error]", "[Insufficient Permissions]".
 */
function smiNumber(field: string | undefined): number | null {
  if (field === undefined || field.startsWith('[')) return null;
  const n = Number(field.replace(/\s*(%|MiB)$/, ''));
  return Number.isFinite(n) ? n : null;
}

/**
 * `nvidia-smi --query-gpu=index,name,utilization.gpu,memory.used,memory.total
 * --format=csv,noheader,nounits`, one GPU a line. Lines that are not a GPU
 * (a header, "No devices were found", a driver error message) are skipped;
 * the fields are taken from both ends, so a name with a comma still parses.
 */
export function parseNvidiaSmi(csv: string): GpuSample[] {
  const out: GpuSample[] = [];
  const mib = 1024 * 1024;
  for (const line of csv.split(/\r?\n/)) {
    const fields = line.split(',').map((s) => s.trim());
    if (fields.length < 5 || !/^\d+$/.test(fields[0])) continue;
    const [util, used, total] = fields.slice(-3).map(smiNumber);
    out.push({
      index: Number(fields[0]),
      name: fields.slice(1, -3).join(', '),
      utilization_percent: util,
      memory_used_bytes: used === null ? null : used * mib,
      memory_total_bytes: (total ?? 0) * mib,
    });
  }
  return out;
}

const NVIDIA_QUERY = ['--query-gpu=index,name,utilization.gpu,memory.used,memory.total', '--format=csv,noheader,nounits'];

/** Query GPUs once; resolves to [] when nvidia-smi is absent or fails. */
export function queryGpus(command = 'nvidia-smi', timeoutMs = 3000): Promise<{ gpus: GpuSample[]; available: boolean }> {
  return new Promise((resolve) => {
    execFile(command, NVIDIA_QUERY, { timeout: timeoutMs }, (err, stdout) => {
      if (err) resolve({ gpus: [], available: (err as NodeJS.ErrnoException).code !== 'ENOENT' });
      else resolve({ gpus: parseNvidiaSmi(stdout), available: true });
    });
  });
}

function readCounters(): Counters {
  const { all, cores } = parseProcStat(readText('/proc/stat'));
  const net = parseNetDev(readText('/proc/net/dev'));
  const disk = parseDiskstats(readText('/proc/diskstats'));
  return { time: Date.now(), all, cores, rx: net.rx, tx: net.tx, diskRead: disk.read, diskWrite: disk.write };
}

function percent(prev: CpuTimes | undefined, cur: CpuTimes | undefined): number {
  if (!prev || !cur) return 0;
  const total = cur.total - prev.total;
  return total > 0 ? Math.round(((cur.busy - prev.busy) / total) * 1000) / 10 : 0;
}

function rate(prev: number, cur: number, seconds: number): number {
  return seconds > 0 ? Math.max(0, Math.round((cur - prev) / seconds)) : 0;
}

export interface ResourceSamplerOptions {
  intervalMs?: number;
  host?: string;
  /** per-task CPU/memory (the engine passes its TaskRunner's usage()) */
  taskUsage?: () => TaskResourceUsage[];
  nvidiaSmi?: string;
}

/** Samples the node every `intervalMs` (default 1000) and hands each sample to `onSample`. */
export class ResourceSampler {
  private prev: Counters = readCounters();
  private prevCpu = { usage: process.cpuUsage(), time: Date.now() };
  private timer: NodeJS.Timeout | null = null;
  private gpus: GpuSample[] = [];
  private gpuQueryRunning = false;
  private nvidiaSmiPresent = true;

  constructor(private readonly opts: ResourceSamplerOptions = {}) {}

  start(onSample: (s: NodeResourceSample) => void): void {
    if (this.timer) return;
    this.refreshGpus();
    this.timer = setInterval(() => {
      this.refreshGpus();
      onSample(this.sample());
    }, this.opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One sample now; rates are over the time since the previous sample. */
  sample(): NodeResourceSample {
    const cur = readCounters();
    const prev = this.prev;
    this.prev = cur;
    const seconds = (cur.time - prev.time) / 1000;
    const mem = parseMeminfo(readText('/proc/meminfo'));
    const load = os.loadavg() as [number, number, number];
    return {
      time_ms: cur.time,
      host: this.opts.host ?? os.hostname(),
      cpu: { cores: cur.cores.map((c, i) => percent(prev.cores[i], c)), total_percent: percent(prev.all, cur.all) },
      memory: {
        total_bytes: mem.total,
        available_bytes: mem.available,
        used_bytes: mem.total - mem.available,
        percent: mem.total ? Math.round(((mem.total - mem.available) / mem.total) * 1000) / 10 : 0,
      },
      load: [load[0], load[1], load[2]],
      network: { rx_bytes_per_s: rate(prev.rx, cur.rx, seconds), tx_bytes_per_s: rate(prev.tx, cur.tx, seconds) },
      disk: { read_bytes_per_s: rate(prev.diskRead, cur.diskRead, seconds), write_bytes_per_s: rate(prev.diskWrite, cur.diskWrite, seconds) },
      gpus: this.gpus,
      engine: { pid: process.pid, rss_bytes: process.memoryUsage.rss(), cpu_percent: this.engineCpuPercent() },
      tasks: this.opts.taskUsage?.() ?? [],
    };
  }

  private engineCpuPercent(): number {
    const now = { usage: process.cpuUsage(), time: Date.now() };
    const prev = this.prevCpu;
    this.prevCpu = now;
    const wallMicros = (now.time - prev.time) * 1000;
    const used = now.usage.user - prev.usage.user + now.usage.system - prev.usage.system;
    return wallMicros > 0 ? Math.round((used / wallMicros) * 1000) / 10 : 0;
  }

  private refreshGpus(): void {
    if (!this.nvidiaSmiPresent || this.gpuQueryRunning) return;
    this.gpuQueryRunning = true;
    void queryGpus(this.opts.nvidiaSmi).then(({ gpus, available }) => {
      this.gpuQueryRunning = false;
      this.gpus = gpus;
      if (!available) this.nvidiaSmiPresent = false; // absent: stop asking, report none
    });
  }
}

/** The static description an engine registers with (cpus, memory, GPUs). */
export async function describeNode(opts: { gpuFilter?: number[]; nvidiaSmi?: string } = {}): Promise<{
  cpus: number;
  memory_bytes: number;
  gpus: { index: number; name: string; memory_bytes: number }[];
}> {
  const { gpus } = await queryGpus(opts.nvidiaSmi);
  const chosen = opts.gpuFilter ? gpus.filter((g) => opts.gpuFilter!.includes(g.index)) : gpus;
  return { cpus: os.cpus().length, memory_bytes: os.totalmem(), gpus: gpuInfo(chosen) };
}

/** What an engine registers of each GPU sample: index, name, total memory. */
export function gpuInfo(samples: GpuSample[]): { index: number; name: string; memory_bytes: number }[] {
  return samples.map((g) => ({ index: g.index, name: g.name, memory_bytes: g.memory_total_bytes }));
}
