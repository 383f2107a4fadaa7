/**
 * The machine's floor for hpcdl's task round trip: the same topology with no
 * hpcdl code in it. One process plays client + controller and serves a
 * WebSocket (`ws`); an "engine" child process connects, hands each JSON task
 * to a worker thread, which evaluates the function source and posts the
 * result back on a MessagePort that the engine polls briefly, as hpcdl's
 * engine does; the engine sends the JSON result back. No signing, validation,
 * scheduling, journal, handles. hpcdl's p50 divided by this one says how much
 * of the round trip is hpcdl rather than the kernel, the VM and Node.
 *
 *   node latency-floor.js [samples]      (prints {"p50_ms":..,"p99_ms":..})
 *   node latency-floor.js --engine PORT  (the child)
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { MessageChannel, Worker, receiveMessageOnPort } from 'node:worker_threads';
import WebSocket, { WebSocketServer } from 'ws';

const POLL_US = 300;

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
parentPort.on('message', (task) => {
  const fn = (0, eval)('(' + task.source + ')');
  workerData.out.postMessage({ id: task.id, value: fn(...task.args) ?? null });
});`;

function runEngine(port: number): void {
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { out: port2 }, transferList: [port2] });
  const ws = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  port1.on('message', (result) => ws.send(JSON.stringify(result)));
  ws.on('message', (data: Buffer) => {
    worker.postMessage(JSON.parse(data.toString()));
    const deadline = process.hrtime.bigint() + BigInt(POLL_US * 1000);
    while (process.hrtime.bigint() < deadline) {
      const received = receiveMessageOnPort(port1);
      if (received) return ws.send(JSON.stringify(received.message));
    }
  });
  ws.on('close', () => process.exit(0));
}

export async function measureFloor(samples: number): Promise<{ p50_ms: number; p99_ms: number }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as { port: number }).port;
  const fromSource = path.extname(__filename) === '.ts';
  const pre = fromSource ? ['--import', pathToFileURL(require.resolve('tsx')).href] : [];
  const child = spawn(process.execPath, [...pre, __filename, '--engine', String(port)], { stdio: 'inherit' });
  try {
    const ws = await new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
    let waiting: ((data: Buffer) => void) | null = null;
    ws.on('message', (data: Buffer) => waiting?.(data));
    const roundTrip = (id: number) =>
      new Promise<void>((resolve) => {
        waiting = () => resolve();
        ws.send(JSON.stringify({ id, source: '() => null', args: [] }));
      });
    for (let i = 0; i < 500; i++) await roundTrip(i);
    const lat: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = process.hrtime.bigint();
      await roundTrip(i);
      lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    lat.sort((a, b) => a - b);
    ws.close();
    return { p50_ms: lat[Math.floor(samples / 2)], p99_ms: lat[Math.min(samples - 1, Math.floor(samples * 0.99))] };
  } finally {
    if (child.exitCode === null) child.kill();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}

if (require.main === module) {
  const i = process.argv.indexOf('--engine');
  if (i >= 0) runEngine(Number(process.argv[i + 1]));
  else measureFloor(Number(process.argv[2] ?? 2000)).then((r) => console.log(JSON.stringify(r)));
}
