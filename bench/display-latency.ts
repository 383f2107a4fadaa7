/**
 * Display latency: from `report()` in a task on a cluster engine to the
 * updated display output reaching a notebook frontend — a @jupyterlab/services
 * client receiving update_display_data on IOPub from a real jupyter-server and
 * the hpcdl kernel. The path measured: engine worker → engine → controller →
 * cluster client in the kernel → LiveFigure (throttled) → kernel IOPub →
 * jupyter-server → WebSocket → client.
 *
 *   node dist/cli/index.js bench display-latency [--reports N] [--gap-ms G] [--burst-gap-ms B] [--rate R]
 *   npx tsx bench/display-latency.ts ...
 *
 * Each report carries the engine's wall clock (same machine as the client);
 * a report's latency is the time until the first display update containing it
 * arrives. Two phases: "paced" (reports further apart than the throttle
 * interval, so every report is shown at once: the pipeline's own latency) and
 * "burst" (reports faster than the throttle: updates are coalesced, so the
 * latency includes waiting for the next allowed update, ≤ 1000/R ms).
 * There is no peer for this measurement; the target is ≤ 250 ms.
 * Needs a build (npm run build) and Debian's jupyter-server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { KernelManager, type Kernel, type KernelMessage, type ServerConnection } from '@jupyterlab/services';
import { jupyterServerSettings } from '../kernel/server-connection';
import { installKernel } from '../kernel/install';
import { hpcdlPackageRoot } from '../kernel/package-root';
import { benchArgs, positive, stringValue } from './support/args';

const PLOTLY_MIME = 'application/vnd.plotly.v1+json';
const TARGET_MS = 250;

interface Args {
  reports: number;
  gapMs: number;
  burstGapMs: number;
  rate: number;
}

const USAGE = `Usage: hpcdl bench display-latency [--reports 50] [--gap-ms 400] [--burst-gap-ms 40] [--rate 4]
  from report() in an engine task to the updated display in a notebook frontend (real jupyter-server)`;

function parseArgs(argv: string[]): Args | null {
  const flags = benchArgs(argv, {
    reports: { type: 'string', default: '50' },
    'gap-ms': { type: 'string', default: '400' },
    'burst-gap-ms': { type: 'string', default: '40' },
    rate: { type: 'string', default: '4' },
  }, USAGE);
  if (!flags) return null;
  return {
    reports: positive(stringValue(flags, 'reports'), '--reports'),
    gapMs: positive(stringValue(flags, 'gap-ms'), '--gap-ms', false),
    burstGapMs: positive(stringValue(flags, 'burst-gap-ms'), '--burst-gap-ms', false),
    rate: positive(stringValue(flags, 'rate'), '--rate', false),
  };
}

/** The cells the kernel runs: a local cluster, a LiveFigure fed by report() of an engine task. */
function setupCell(rate: number): string {
  return `
import { Cluster } from 'hpcdl/cluster';
import { LiveFigure } from 'hpcdl';
const cluster = await Cluster.start({ engines: 1, output: 'none' });
const maxUpdatesPerSecond = ${rate};
async function reportsToDisplay(phase: string, count: number, gapMs: number): Promise<number> {
  // x: report index, y: the engine's Date.now() when it called report()
  const fig = new LiveFigure({ data: [{ type: 'scatter', mode: 'lines', x: [] as number[], y: [] as number[] }], layout: { title: { text: phase } } }, { maxUpdatesPerSecond });
  const task = cluster.balanced().submit(async (n: number, gap: number) => {
    for (let i = 0; i < n; i++) {
      (globalThis as any).report({ i, sentAt: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, gap));
    }
    return n;
  }, count, gapMs);
  task.onReport((data: any) => fig.update((f: any) => { f.data[0].x.push(data.i); f.data[0].y.push(data.sentAt); }));
  const n = Number(await task);
  fig.close();
  return n;
}`;
}

interface PhaseResult {
  phase: string;
  latencies: number[];
  /** report index of each latency */
  indices: number[];
  updates: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

async function runPhase(kernel: Kernel.IKernelConnection, phase: string, count: number, gapMs: number): Promise<PhaseResult> {
  const seen = new Set<number>();
  const latencies: number[] = [];
  const indices: number[] = [];
  let updates = 0;
  const onIOPub = (_: unknown, msg: KernelMessage.IIOPubMessage) => {
    const type = msg.header.msg_type;
    if (type !== 'update_display_data' && type !== 'display_data') return;
    const receivedAt = Date.now();
    const fig = (msg.content as { data?: Record<string, any> }).data?.[PLOTLY_MIME];
    if (!fig || fig.layout?.title?.text !== phase) return;
    const { x, y } = fig.data[0] as { x: number[]; y: number[] };
    if (type === 'update_display_data') updates += 1;
    for (let k = 0; k < x.length; k++) {
      if (seen.has(x[k])) continue;
      seen.add(x[k]);
      latencies.push(receivedAt - y[k]);
      indices.push(x[k]);
    }
  };
  kernel.iopubMessage.connect(onIOPub);
  try {
    await execute(kernel, `await reportsToDisplay(${JSON.stringify(phase)}, ${count}, ${gapMs});`, 120_000 + count * gapMs);
    await sleep(500);
  } finally {
    kernel.iopubMessage.disconnect(onIOPub);
  }
  if (seen.size !== count) throw new Error(`${phase}: ${seen.size} of ${count} reports reached the client`);
  return { phase, latencies, indices, updates };
}

async function execute(kernel: Kernel.IKernelConnection, code: string, timeoutMs: number): Promise<void> {
  const future = kernel.requestExecute({ code, stop_on_error: true });
  const errors: string[] = [];
  future.onIOPub = (msg) => {
    if (msg.header.msg_type === 'error') {
      const c = msg.content as { ename: string; evalue: string };
      errors.push(`${c.ename}: ${c.evalue}`);
    }
    if (msg.header.msg_type === 'stream' && (msg.content as { name: string }).name === 'stderr') errors.push((msg.content as { text: string }).text);
  };
  const reply = await withTimeout(future.done, timeoutMs, `cell did not finish within ${timeoutMs} ms`);
  if (reply.content.status !== 'ok') throw new Error(`cell failed: ${errors.join('\n')}\n${code}`);
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  if (!args) return 0;
  const root = hpcdlPackageRoot(__dirname);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-bench-display-'));
  let server: { child: ChildProcess; settings: ServerConnection.ISettings } | null = null;
  const manager: { kernels?: KernelManager } = {};
  try {
    installKernel({ location: { kind: 'prefix', prefix: path.join(work, 'prefix') }, name: 'hpcdl-bench', packageRoot: root });
    server = await startServer(work);
    manager.kernels = new KernelManager({ serverSettings: server.settings });
    await manager.kernels.ready;
    const kernel = await manager.kernels.startNew({ name: 'hpcdl-bench' });
    await withTimeout(kernel.info, 60_000, 'the hpcdl kernel did not start');
    console.log(`display latency: report() on an engine → update_display_data at a @jupyterlab/services client (jupyter-server, hpcdl kernel, 1 local engine)`);
    console.log(`throttle: LiveFigure at most ${args.rate} updates/s (interval ${(1000 / args.rate).toFixed(0)} ms); ${args.reports} reports per phase`);
    await execute(kernel, setupCell(args.rate), 120_000);
    const phases = [
      await runPhase(kernel, `paced (a report every ${args.gapMs} ms)`, args.reports, args.gapMs),
      await runPhase(kernel, `burst (a report every ${args.burstGapMs} ms)`, args.reports, args.burstGapMs),
    ];
    await execute(kernel, 'await cluster.close();', 60_000);
    for (const p of phases) {
      const sorted = [...p.latencies].sort((a, b) => a - b);
      const p50 = percentile(sorted, 50);
      const p90 = percentile(sorted, 90);
      const p99 = percentile(sorted, 99);
      const worst = p.latencies.indexOf(sorted[sorted.length - 1]);
      console.log(
        `${p.phase}: p50 ${p50.toFixed(0)} ms, p90 ${p90.toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${sorted[sorted.length - 1].toFixed(0)} ms at report #${p.indices[worst]} ` +
          `(${p.latencies.length} reports, ${p.updates} display updates); target <= ${TARGET_MS} ms: ${p99 <= TARGET_MS ? 'met' : 'NOT met'} at p99`,
      );
    }
    console.log('no peer: ipyparallel/Dask have no report-to-notebook-display path to compare with');
    await kernel.shutdown().catch(() => undefined);
    return 0;
  } finally {
    manager.kernels?.dispose();
    if (server) await stopProcess(server.child);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

// ---- a private jupyter-server ---------------------------------------------

async function startServer(work: string): Promise<{ child: ChildProcess; settings: ServerConnection.ISettings }> {
  const port = await freePort();
  const token = randomBytes(16).toString('hex');
  const home = path.join(work, 'jupyter');
  for (const sub of ['config', 'data', 'runtime', 'root']) fs.mkdirSync(path.join(home, sub), { recursive: true });
  const env = {
    ...process.env,
    JUPYTER_PATH: path.join(work, 'prefix', 'share', 'jupyter'),
    JUPYTER_CONFIG_DIR: path.join(home, 'config'),
    JUPYTER_DATA_DIR: path.join(home, 'data'),
    JUPYTER_RUNTIME_DIR: path.join(home, 'runtime'),
    JUPYTER_PLATFORM_DIRS: '1',
    HPCDL_HOME: path.join(work, 'hpcdl-home'),
  };
  const child = spawn(
    'jupyter-server',
    [`--ServerApp.ip=127.0.0.1`, `--ServerApp.port=${port}`, '--ServerApp.port_retries=0', `--ServerApp.token=${token}`, `--ServerApp.root_dir=${path.join(home, 'root')}`, '--ServerApp.open_browser=False', '--allow-root'],
    { cwd: path.join(home, 'root'), env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout?.on('data', (d) => (log += d));
  child.stderr?.on('data', (d) => (log += d));
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`jupyter-server exited (${child.exitCode}):\n${log}`);
    const ok = await fetch(`${base}/api/status?token=${token}`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`jupyter-server did not answer on ${base} within 60 s:\n${log}`);
    }
    await sleep(250);
  }
  const settings = jupyterServerSettings(`${base}/`, token);
  return { child, settings };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`display-latency: ${err instanceof Error ? err.message : err}`);
      process.exit(1);
    },
  );
}
