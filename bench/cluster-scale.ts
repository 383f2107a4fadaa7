/**
 * Controller scale: 1,000 engines speaking the real protocol (lightweight
 * engines, 250 per process, bench/support/cluster-peers.ts) register with one
 * `hpcdl controller`; a 100,000-task map runs over them and every result is
 * checked (none lost, none doubled). A second controller with no engines
 * holds 100,000 queued tasks to measure memory per queued task.
 *
 *   hpcdl bench cluster-scale [--engines 1000] [--tasks 100000] [--hosts 4]
 *
 * For comparison (peers.md): ipyparallel registration times out above ~100
 * engines (ipython/ipyparallel#301, #700) and Dask's scheduler is documented
 * at ~4,000 tasks/s.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readConnectionFile, type ConnectionInfo } from '../cluster/protocol';
import { LightClient } from './support/cluster-peers';
import { benchArgs, positive, stringValue } from './support/args';

export interface ScaleOptions {
  engines: number;
  tasks: number;
  hosts: number;
  log?: (line: string) => void;
}

export interface ScaleFigures {
  engines: number;
  registeredEngines: number;
  /** from the first engine connection to the last registration, worst host process */
  registrationMs: number;
  /** from spawning the host processes (includes node start-up) */
  registrationWallMs: number;
  tasks: number;
  results: number;
  wrongValues: number;
  duplicates: number;
  mapSeconds: number;
  tasksPerSecond: number;
  enginesUsed: number;
  memoryPerEngineBytes: { heap: number; rss: number };
  memoryPerQueuedTaskBytes: { heap: number; rss: number };
}

function nodeCommand(script: string, args: string[], nodeFlags: string[] = []): { command: string; args: string[] } {
  const pre = path.extname(script) === '.ts' ? ['--import', pathToFileURL(require.resolve('tsx')).href] : [];
  return { command: process.execPath, args: [...nodeFlags, ...pre, script, ...args] };
}

const ext = path.extname(__filename);

async function startController(dir: string, id: string, children: ChildProcess[]): Promise<ConnectionInfo> {
  const cmd = nodeCommand(path.join(__dirname, '..', 'cluster', 'controller', `cli${ext}`), ['--cluster-id', id, '--profile-dir', dir], ['--expose-gc']);
  const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('listening on') && resolve());
    child.once('exit', (code) => reject(new Error(`controller exited with ${code}: ${err}`)));
  });
  return readConnectionFile(path.join(dir, 'clusters', `${id}.json`));
}

async function status(info: ConnectionInfo, gc = false): Promise<any> {
  const url = info.dashboard_url.replace('/?', `/api/status?${gc ? 'gc=1&' : ''}`);
  return fetch(url).then((r) => r.json());
}

async function memory(info: ConnectionInfo): Promise<{ heap: number; rss: number }> {
  await status(info, true);
  const s = await status(info, true);
  return { heap: s.memory.heap_used, rss: s.memory.rss };
}

async function submitAll(client: LightClient, ids: string[], chunk = 10000): Promise<void> {
  for (let i = 0; i < ids.length; i += chunk) {
    const part = ids.slice(i, i + chunk).map((task_id, j) => ({ task_id, source: '(x) => x + 1', args: [i + j] }));
    const reply = await client.submit(part);
    if (reply.accepted.length !== part.length) throw new Error(`controller accepted ${reply.accepted.length} of ${part.length} tasks: ${JSON.stringify(reply.rejected?.[0])}`);
  }
}

export async function runScale(opts: ScaleOptions): Promise<ScaleFigures> {
  const log = opts.log ?? (() => {});
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  const children: ChildProcess[] = [];
  try {
    // --- 1: memory per queued task (controller without engines)
    const queueInfo = await startController(dir, 'scale-queue', children);
    const q0 = await memory(queueInfo);
    const qClient = new LightClient(queueInfo.url, queueInfo.key);
    await qClient.connect();
    await submitAll(qClient, Array.from({ length: opts.tasks }, (_, i) => `q${i}`));
    const q1 = await memory(queueInfo);
    qClient.close();
    children.pop()!.kill('SIGTERM');
    const perTask = { heap: (q1.heap - q0.heap) / opts.tasks, rss: (q1.rss - q0.rss) / opts.tasks };
    log(`queued ${opts.tasks} tasks: controller heap +${((q1.heap - q0.heap) / 2 ** 20).toFixed(1)} MiB, rss +${((q1.rss - q0.rss) / 2 ** 20).toFixed(1)} MiB`);

    // --- 2: engines register
    const info = await startController(dir, 'scale', children);
    const m0 = await memory(info);
    const perHost = Math.ceil(opts.engines / opts.hosts);
    const t0 = Date.now();
    const hostTimes: number[] = [];
    for (let h = 0; h < opts.hosts; h++) {
      const count = Math.min(perHost, opts.engines - h * perHost);
      if (count <= 0) break;
      const cmd = nodeCommand(path.join(__dirname, 'support', `cluster-peers${ext}`), ['engines', '--connect', path.join(dir, 'clusters', 'scale.json'), '--count', String(count), '--host', `host${h}`, '--local-address', `127.0.0.${h + 2}`]);
      const child = spawn(cmd.command, cmd.args, { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      child.stdout!.on('data', (d) => {
        const m = /registered (\d+) (\d+)/.exec(String(d));
        if (m) hostTimes.push(Number(m[2]));
      });
    }
    let registered = 0;
    const deadline = Date.now() + 120000;
    while (Date.now() < deadline) {
      registered = (await status(info)).engines.alive;
      if (registered >= opts.engines) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const wallMs = Date.now() - t0;
    while (hostTimes.length < opts.hosts && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const m1 = await memory(info);
    const perEngine = { heap: (m1.heap - m0.heap) / opts.engines, rss: (m1.rss - m0.rss) / opts.engines };
    log(`${registered} engines registered (${Math.max(...hostTimes)} ms from first connect, ${wallMs} ms including process start)`);

    // --- 3: a 100,000-task map over them
    const client = new LightClient(info.url, info.key);
    await client.connect();
    const ids = Array.from({ length: opts.tasks }, (_, i) => `t${i}`);
    const tm = process.hrtime.bigint();
    const allDone = new Promise<void>((resolve) => {
      client.onResult = () => client.results.size === opts.tasks && resolve();
    });
    await submitAll(client, ids);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allDone, new Promise((r) => (timer = setTimeout(r, 300000)))]);
    clearTimeout(timer);
    const mapSeconds = Number(process.hrtime.bigint() - tm) / 1e9;
    let wrong = 0;
    const used = new Set<number>();
    ids.forEach((id, i) => {
      const r = client.results.get(id);
      if (!r || r.status !== 'ok' || r.value !== i + 1) wrong += 1;
      if (r?.engine_id !== undefined) used.add(r.engine_id);
    });
    client.close();
    return {
      engines: opts.engines,
      registeredEngines: registered,
      registrationMs: hostTimes.length ? Math.max(...hostTimes) : NaN,
      registrationWallMs: wallMs,
      tasks: opts.tasks,
      results: client.results.size,
      wrongValues: wrong,
      duplicates: client.duplicates,
      mapSeconds,
      tasksPerSecond: opts.tasks / mapSeconds,
      enginesUsed: used.size,
      memoryPerEngineBytes: perEngine,
      memoryPerQueuedTaskBytes: perTask,
    };
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 500));
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const USAGE = `Usage: hpcdl bench cluster-scale [--engines 1000] [--tasks 100000] [--hosts 4]
  registration time, throughput and controller memory with many lightweight protocol engines`;

export async function main(argv: string[]): Promise<number> {
  const flags = benchArgs(argv, { engines: { type: 'string', default: '1000' }, tasks: { type: 'string', default: '100000' }, hosts: { type: 'string', default: '4' } }, USAGE);
  if (!flags) return 0;
  const opts = {
    engines: positive(stringValue(flags, 'engines'), '--engines'),
    tasks: positive(stringValue(flags, 'tasks'), '--tasks'),
    hosts: positive(stringValue(flags, 'hosts'), '--hosts'),
  };
  console.log(`scale: ${opts.engines} lightweight protocol engines in ${opts.hosts} processes, ${opts.tasks}-task map; ${os.cpus().length} cores, load ${os.loadavg()[0].toFixed(1)}`);
  const f = await runScale({ ...opts, log: (l) => console.log(`  ${l}`) });
  console.log(`registration: ${f.registeredEngines}/${f.engines} engines in ${f.registrationMs} ms (target <= 5000 ms; ${f.registrationWallMs} ms including node start-up of the host processes)`);
  console.log(`map: ${f.results}/${f.tasks} results, ${f.wrongValues} missing or wrong, ${f.duplicates} duplicates, ${f.mapSeconds.toFixed(2)} s = ${f.tasksPerSecond.toFixed(0)} tasks/s over ${f.enginesUsed} engines`);
  console.log(`controller memory per engine: ${(f.memoryPerEngineBytes.heap / 1024).toFixed(1)} KiB heap, ${(f.memoryPerEngineBytes.rss / 1024).toFixed(1)} KiB rss`);
  console.log(`controller memory per queued task: ${f.memoryPerQueuedTaskBytes.heap.toFixed(0)} B heap, ${f.memoryPerQueuedTaskBytes.rss.toFixed(0)} B rss`);
  return f.registeredEngines === f.engines && f.wrongValues === 0 && f.duplicates === 0 ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
    console.error(err);
    process.exit(1);
  });
}
