/**
 * Why the collective links are raw TCP and not the shared ws peer
 * (cluster/transport/peer.ts): two processes exchange SIZE bytes at the same
 * time in both directions (what a 2-rank ring allreduce step does), ROUNDS
 * times, over
 *   net     raw node:net, length-prefixed, reading into one preallocated buffer (what tcp-link.ts does)
 *   ws      ws + bufferutil, unsigned binary messages (the best a ws link could do after a one-time handshake)
 *   ws+hmac ws + bufferutil, each message HMAC-SHA256-signed and verified (what per-message signing costs)
 *
 *   node --import tsx bench/support/transport-compare.ts [SIZE_BYTES=9000000] [ROUNDS=20]
 */
import { fork } from 'node:child_process';
import { createHmac } from 'node:crypto';
import * as net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

const SIZE = Number(process.argv[2] ?? 9e6);
const ROUNDS = Number(process.argv[3] ?? 20);
const KEY = 'k'.repeat(64);
type Mode = 'net' | 'ws' | 'ws+hmac';

interface Channel {
  send(b: Buffer): void;
  next(): Promise<void>;
}

async function exchange(ch: Channel): Promise<number> {
  const payload = Buffer.alloc(SIZE, 7);
  let t0 = 0n;
  for (let i = 0; i < ROUNDS + 3; i++) {
    if (i === 3) t0 = process.hrtime.bigint();
    const got = ch.next();
    ch.send(payload);
    await got;
  }
  return Number(process.hrtime.bigint() - t0) / 1e6 / ROUNDS;
}

function netChannel(socket: net.Socket, sink: { on: (b: Buffer) => void }): Channel {
  const dest = Buffer.alloc(SIZE);
  let got = 0;
  let waiter: (() => void) | null = null;
  let header = 0;
  sink.on = (b) => {
    let pos = 0;
    while (pos < b.length) {
      if (header < 4) {
        const n = Math.min(4 - header, b.length - pos);
        header += n;
        pos += n;
        continue;
      }
      const n = Math.min(SIZE - got, b.length - pos);
      b.copy(dest, got, pos, pos + n);
      got += n;
      pos += n;
      if (got === SIZE) {
        got = 0;
        header = 0;
        const w = waiter;
        waiter = null;
        w?.();
      }
    }
  };
  return {
    send(b) {
      const h = Buffer.alloc(4);
      h.writeUInt32LE(b.length);
      socket.cork();
      socket.write(h);
      socket.write(b);
      socket.uncork();
    },
    next: () => new Promise<void>((r) => (waiter = r)),
  };
}

function wsChannel(ws: WebSocket, hmac: boolean): Channel {
  let waiter: (() => void) | null = null;
  ws.on('message', (data: Buffer) => {
    if (hmac) {
      const sig = createHmac('sha256', KEY).update(data.subarray(32)).digest();
      if (!sig.equals(data.subarray(0, 32))) throw new Error('bad signature');
    }
    const w = waiter;
    waiter = null;
    w?.();
  });
  return {
    send(b) {
      if (!hmac) return ws.send(b, { binary: true });
      const sig = createHmac('sha256', KEY).update(b).digest();
      ws.send(Buffer.concat([sig, b]), { binary: true });
    },
    next: () => new Promise<void>((r) => (waiter = r)),
  };
}

function onreadOpts(sink: { on: (b: Buffer) => void }) {
  return { buffer: Buffer.allocUnsafe(1 << 20), callback: (n: number, buf: Buffer) => (sink.on(buf.subarray(0, n)), true) };
}

async function child(mode: Mode, port: number): Promise<void> {
  let ch: Channel;
  if (mode === 'net') {
    const sink = { on: (_b: Buffer) => undefined as void };
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true, onread: onreadOpts(sink) });
    await new Promise((r) => socket.once('connect', r));
    ch = netChannel(socket, sink);
    await exchange(ch);
    socket.end();
  } else {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, { maxPayload: 1 << 30, perMessageDeflate: false });
    await new Promise((r) => ws.once('open', r));
    ch = wsChannel(ws, mode === 'ws+hmac');
    await exchange(ch);
    ws.close();
  }
}

async function parent(mode: Mode): Promise<number> {
  if (mode === 'net') {
    return new Promise((resolve) => {
      const server = net.createServer({ noDelay: true, pauseOnConnect: true }, (accepted) => {
        const sink = { on: (_b: Buffer) => undefined as void };
        const handle = (accepted as unknown as { _handle: unknown })._handle;
        accepted.removeAllListeners();
        const socket = new net.Socket({ handle, readable: true, writable: true, onread: onreadOpts(sink) } as net.SocketConstructorOpts);
        exchange(netChannel(socket, sink)).then((ms) => {
          server.close();
          socket.destroy();
          resolve(ms);
        });
      });
      server.listen(0, '127.0.0.1', () => fork(__filename, [String(SIZE), String(ROUNDS), 'child', mode, String((server.address() as net.AddressInfo).port)], { execArgv: process.execArgv }));
    });
  }
  return new Promise((resolve) => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 1 << 30, perMessageDeflate: false });
    wss.on('connection', (ws) => {
      exchange(wsChannel(ws, mode === 'ws+hmac')).then((ms) => {
        ws.terminate();
        wss.close();
        resolve(ms);
      });
    });
    wss.on('listening', () => fork(__filename, [String(SIZE), String(ROUNDS), 'child', mode, String((wss.address() as net.AddressInfo).port)], { execArgv: process.execArgv }));
  });
}

if (process.argv[4] === 'child') child(process.argv[5] as Mode, Number(process.argv[6]));
else
  (async () => {
    const best: Record<string, number> = {};
    for (let round = 0; round < 3; round++) {
      for (const mode of ['net', 'ws', 'ws+hmac'] as Mode[]) {
        const ms = await parent(mode);
        best[mode] = Math.min(best[mode] ?? Infinity, ms);
      }
    }
    let hmacMs = Infinity;
    const buf = Buffer.alloc(SIZE, 1);
    for (let i = 0; i < 10; i++) {
      const t = process.hrtime.bigint();
      createHmac('sha256', KEY).update(buf).digest();
      hmacMs = Math.min(hmacMs, Number(process.hrtime.bigint() - t) / 1e6);
    }
    console.log(`bidirectional exchange of ${(SIZE / 1e6).toFixed(1)} MB, best of 3 runs x ${ROUNDS} rounds:`);
    for (const [mode, ms] of Object.entries(best)) console.log(`  ${mode.padEnd(8)} ${ms.toFixed(2)} ms per exchange  (${(SIZE / ms / 1e6).toFixed(2)} GB/s each way)`);
    console.log(`  HMAC-SHA256 of ${(SIZE / 1e6).toFixed(1)} MB alone: ${hmacMs.toFixed(2)} ms`);
  })();
