/**
 * Test support for attacks on the controller's protocol port, at the byte
 * level: raw WebSocket upgrades and frame headers (what an attacker without
 * the key can send), a recording TCP proxy that splits the client's stream
 * into WebSocket frames (to capture a real peer's frames and inject them
 * again), and the resident memory of a process.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import { randomBytes } from 'node:crypto';

/** Resident set size of `pid` in MiB (Linux /proc). */
export function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Samples rssMb(pid) every 100 ms until stopped; `peak` is the largest seen. */
export function watchRss(pid: number): { stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMb(pid));
    } catch {
      // process gone
    }
  }, 100);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, rssMb(pid));
    },
  };
}

export function upgradeRequest(port: number, headers: Record<string, string> = {}): string {
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  return `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`;
}

export interface RawConnection {
  socket: net.Socket;
  /** bytes received after the HTTP response head */
  received(): Buffer;
  /** the HTTP status line of the upgrade response */
  status: string;
  closed: Promise<void>;
  isClosed(): boolean;
}

const opened = new Set<net.Socket>();

/** Destroy every raw connection still open (a test that failed may leave some; they would keep the process alive). */
export function destroyRawConnections(): void {
  for (const s of opened) s.destroy();
  opened.clear();
}

/** A TCP connection that performs a WebSocket upgrade by hand (no ws client: nothing buffers or checks what the test sends). */
export function rawUpgrade(port: number, headers: Record<string, string> = {}): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    opened.add(socket);
    socket.once('close', () => opened.delete(socket));
    let head = Buffer.alloc(0);
    let body: Buffer[] = [];
    let done = false;
    let closed = false;
    const closedP = new Promise<void>((r) => socket.once('close', () => ((closed = true), r())));
    socket.on('error', () => undefined);
    socket.once('connect', () => socket.write(upgradeRequest(port, headers)));
    socket.on('data', (d: Buffer) => {
      if (done) return void body.push(d);
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      done = true;
      body = [head.subarray(end + 4)];
      resolve({ socket, status: head.subarray(0, head.indexOf('\r\n')).toString(), received: () => Buffer.concat(body), closed: closedP, isClosed: () => closed });
    });
    socket.once('close', () => !done && reject(new Error('closed before the upgrade response')));
  });
}

/** A masked client frame header announcing `length` payload bytes (opcode 2: binary). */
export function frameHeader(length: number, opcode = 2): Buffer {
  const mask = randomBytes(4);
  if (length < 126) return Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | length]), mask]);
  if (length < 65536) {
    const h = Buffer.from([0x80 | opcode, 0x80 | 126, 0, 0]);
    h.writeUInt16BE(length, 2);
    return Buffer.concat([h, mask]);
  }
  const h = Buffer.alloc(10);
  h[0] = 0x80 | opcode;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([h, mask]);
}

/** A whole masked client frame carrying `payload`. */
export function clientFrame(payload: Buffer, opcode = 2): Buffer {
  const header = frameHeader(payload.length, opcode);
  const mask = header.subarray(header.length - 4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i++) masked[i] ^= mask[i & 3];
  return Buffer.concat([header, masked]);
}

/** The status code of the first close frame in server→client bytes (unmasked frames), or null. */
export function closeCode(bytes: Buffer): number | null {
  let at = 0;
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at] & 0x0f;
    let len = bytes[at + 1] & 0x7f;
    let off = at + 2;
    if (len === 126) {
      len = bytes.readUInt16BE(off);
      off += 2;
    } else if (len === 127) {
      len = Number(bytes.readBigUInt64BE(off));
      off += 8;
    }
    if (opcode === 8 && len >= 2 && off + 2 <= bytes.length) return bytes.readUInt16BE(off);
    at = off + len;
  }
  return null;
}

/** One proxied connection: the client's stream after the upgrade, split into whole frames, and a way to inject bytes towards the server. */
export interface ProxiedConnection {
  /** every byte the client sent, upgrade request included */
  stream: Buffer[];
  /** the client's whole WebSocket frames after the upgrade, raw (masked) as sent */
  frames: Buffer[];
  /** write bytes to the server between two of the client's frames */
  inject(bytes: Buffer): void;
  /** the proxy's port towards the server: the address the controller logs for this connection */
  upstreamPort(): number;
}

/** The payload of a masked client frame, unmasked (to find a captured frame by what it carries). */
export function unmasked(frame: Buffer): Buffer {
  let len = frame[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    len = frame.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    len = Number(frame.readBigUInt64BE(2));
    off = 10;
  }
  const mask = frame.subarray(off, off + 4);
  const out = Buffer.from(frame.subarray(off + 4, off + 4 + len));
  for (let i = 0; i < out.length; i++) out[i] ^= mask[i & 3];
  return out;
}

/** A TCP proxy to 127.0.0.1:`target` that records what each client sends (`frames: false`: bytes as they come, e.g. TLS). */
export async function recordingProxy(target: number, opts: { frames?: boolean } = {}): Promise<{ port: number; connections: ProxiedConnection[]; close(): void }> {
  const connections: ProxiedConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: target });
    sockets.add(client).add(upstream);
    const conn: ProxiedConnection = { stream: [], frames: [], inject: (b) => upstream.write(b), upstreamPort: () => upstream.localPort ?? 0 };
    connections.push(conn);
    let pending = Buffer.alloc(0);
    let upgraded = false;
    client.on('data', (d: Buffer) => {
      conn.stream.push(Buffer.from(d));
      if (opts.frames === false) return void upstream.write(d);
      pending = Buffer.concat([pending, d]);
      if (!upgraded) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        upstream.write(pending.subarray(0, end + 4));
        pending = pending.subarray(end + 4);
        upgraded = true;
      }
      // forward whole frames only, so injected bytes always land between two frames
      for (;;) {
        const size = frameSize(pending);
        if (size === null || size > pending.length) break;
        const frame = pending.subarray(0, size);
        conn.frames.push(Buffer.from(frame));
        upstream.write(frame);
        pending = pending.subarray(size);
      }
    });
    upstream.on('data', (d) => client.write(d));
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as net.AddressInfo).port,
    connections,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

/** Size of the masked client frame at the start of `b`, or null when its header is incomplete. */
function frameSize(b: Buffer): number | null {
  if (b.length < 2) return null;
  let len = b[1] & 0x7f;
  let off = 2;
  if (len === 126) {
    if (b.length < 4) return null;
    len = b.readUInt16BE(2);
    off = 4;
  } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2));
    off = 10;
  }
  return off + ((b[1] & 0x80) !== 0 ? 4 : 0) + len;
}
