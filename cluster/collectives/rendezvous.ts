/**
 * Formation of a group: rank 0 listens (on `master`, or on a port it picks
 * and announces through `onListening`); every other rank binds its own
 * listener, dials rank 0, authenticates and says where it listens; once all
 * have arrived rank 0 sends everyone the member list; then rank i dials every
 * rank 0 < j < i and accepts the dials of the ranks above it. The result is one
 * authenticated link per pair of ranks.
 */
import * as net from 'node:net';
import * as os from 'node:os';
import { authenticateAsAcceptor, authenticateAsDialer, type AuthContext } from './link-auth';
import { COLLECTIVE_CODE, FRAME_KIND } from './frame';
import { describeMember, type MemberInfo } from './link';
import { parseJson, TcpLink, type LinkTimers } from './tcp-link';
import { adoptWithSink, connectWithSink, createPausedServer, type ChunkSink } from './user-buffer-socket';

export interface FormationOptions {
  groupId: string;
  rank: number;
  size: number;
  key: string;
  master?: string;
  /** the address this rank's listener binds to and advertises */
  host: string;
  /** rank 0 without master: the port to listen on (0 = any) */
  port: number;
  deadline: number;
  timeoutMs: number;
  engineId: number | string | null;
  timers: LinkTimers;
  log: (line: string) => void;
  onListening?: (address: string) => void;
  /** every link's failures go here once the group exists */
  onLinkFailure: (err: Error, how: string, waiting: boolean) => void;
}

export interface Formed {
  members: MemberInfo[];
  links: (TcpLink | null)[];
}

export function parseHostPort(address: string, what: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d+)$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new Error(`${what}: ${JSON.stringify(address)} is not "host:port"`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

function formatAddress(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function listen(host: string, port: number, what: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = createPausedServer();
    server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`${what}: cannot listen on ${formatAddress(host, port)}: ${err.code ?? err.message}`)));
    server.listen({ host, port, exclusive: true }, () => resolve(server));
  });
}

/** Dial `host:port`, retrying refused connections (the listener may not be up yet) until the deadline. */
interface Dialled {
  socket: net.Socket;
  sink: ChunkSink;
}

async function dial(address: string, deadline: number, what: string): Promise<Dialled> {
  const { host, port } = parseHostPort(address, what);
  let last = '';
  for (;;) {
    try {
      return await new Promise<Dialled>((resolve, reject) => {
        const sink: ChunkSink = { onChunk: null };
        const socket = connectWithSink(host, port, sink);
        const timer = setTimeout(() => socket.destroy(new Error('connect timed out')), Math.max(100, Math.min(5000, deadline - Date.now())));
        socket.once('connect', () => {
          clearTimeout(timer);
          socket.removeAllListeners('error');
          resolve({ socket, sink });
        });
        socket.once('error', (err) => {
          clearTimeout(timer);
          reject(err);
        });
      });
    } catch (err) {
      last = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (Date.now() + 200 >= deadline) throw new Error(`${what}: could not connect to ${address} before the rendezvous deadline (last error ${last})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function closeServer(server: net.Server): void {
  server.close();
}

export async function formGroup(o: FormationOptions): Promise<Formed> {
  const links: (TcpLink | null)[] = new Array(o.size).fill(null);
  const self: MemberInfo = { rank: o.rank, address: '', hostname: os.hostname(), pid: process.pid, engineId: o.engineId };
  const auth: AuthContext = { groupId: o.groupId, key: o.key, self, size: o.size, log: o.log, deadline: o.deadline };
  let formed = false;
  let breakFormation!: (err: Error) => void;
  const broken = new Promise<never>((_, reject) => (breakFormation = reject));
  broken.catch(() => undefined);
  const newLink = (socket: net.Socket, sink: ChunkSink, provisional: MemberInfo) => {
    const link: TcpLink = new TcpLink(
      socket,
      sink,
      provisional,
      {
        onFailure: (err, how, waiting) => {
          if (formed) o.onLinkFailure(err, how, waiting);
          // A rank that had joined and then vanished fails the rendezvous at once.
          else if (links.includes(link)) breakFormation(new Error(`group ${o.groupId} rank ${o.rank}: during the rendezvous: ${err.message}`));
        },
      },
      o.timers,
    );
    return link;
  };
  const unknown = (rank: number, address: string): MemberInfo => ({ rank, address, hostname: '?', pid: 0 });
  const abortAll = (reason: string) => {
    for (const l of links) if (l && !l.error) l.sendJson(FRAME_KIND.abort, { reason }).catch(() => undefined).finally(() => l.destroy());
  };
  try {
    const ctx: Formation = { o, self, auth, links, newLink, unknown };
    const result = await Promise.race([o.rank === 0 ? formAsRankZero(ctx) : formAsMember(ctx), broken]);
    formed = true;
    return result;
  } catch (err) {
    abortAll((err as Error).message);
    throw err;
  }
}

/** what both sides of the formation work with */
interface Formation {
  o: FormationOptions;
  self: MemberInfo;
  auth: AuthContext;
  links: (TcpLink | null)[];
  newLink: (s: net.Socket, sink: ChunkSink, p: MemberInfo) => TcpLink;
  unknown: (rank: number, address: string) => MemberInfo;
}

async function formAsRankZero({ o, self, auth, links, newLink }: Formation): Promise<Formed> {
  const bind = o.master ? parseHostPort(o.master, 'master') : { host: o.host, port: o.port };
  const server = await listen(o.master ? o.host : bind.host, bind.port, `group ${o.groupId} rank 0`);
  const port = (server.address() as net.AddressInfo).port;
  self.address = o.master ?? formatAddress(o.host, port);
  o.onListening?.(self.address);
  const members: MemberInfo[] = new Array(o.size);
  members[0] = self;
  let arrived = 1;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const ranks = Array.from({ length: o.size }, (_, r) => r);
        const missing = ranks.filter((r) => !members[r]);
        const arrivedList = ranks.filter((r) => members[r]);
        reject(new Error(`rendezvous of group ${o.groupId} timed out after ${o.timeoutMs / 1000} s at rank 0 (${self.address}): rank${missing.length > 1 ? 's' : ''} ${missing.join(', ')} never arrived (arrived: ${arrivedList.join(', ')})`));
      }, Math.max(0, o.deadline - Date.now()));
      server.on('connection', (accepted) => {
        const sink: ChunkSink = { onChunk: null };
        const socket = adoptWithSink(accepted, sink);
        const link = newLink(socket, sink, { rank: -1, address: `${socket.remoteAddress}:${socket.remotePort}`, hostname: '?', pid: 0 });
        authenticateAsAcceptor(link, auth, (from) => (members[from] ? `rank ${from} has already joined (${describeMember(members[from])})` : null)).then(
          (peer) => {
            members[peer.rank] = peer;
            links[peer.rank] = link;
            if (++arrived === o.size) {
              clearTimeout(timer);
              resolve();
            }
          },
          () => link.destroy(), // logged by the handshake; the rank may still arrive with the right key
        );
      });
    });
  } finally {
    closeServer(server);
  }
  await Promise.all(links.map((l) => l?.send(FRAME_KIND.json, COLLECTIVE_CODE.members, 0, 0, 0, Buffer.from(JSON.stringify({ members }), 'utf8'))));
  return { members, links };
}

async function formAsMember({ o, self, auth, links, newLink, unknown }: Formation): Promise<Formed> {
  if (!o.master) throw new Error(`joinGroup: rank ${o.rank} of group ${o.groupId} needs \`master\` (rank 0's "host:port")`);
  const { socket, sink } = await dial(o.master, o.deadline, `group ${o.groupId} rank ${o.rank}`);
  // Listen on the interface that reaches rank 0 unless told otherwise: the other ranks reach it the same way.
  const host = o.host || socket.localAddress || '127.0.0.1';
  let server: net.Server;
  try {
    server = await listen(host, 0, `group ${o.groupId} rank ${o.rank}`);
  } catch (err) {
    socket.destroy();
    throw err;
  }
  self.address = formatAddress(host, (server.address() as net.AddressInfo).port);
  try {
    const zero = newLink(socket, sink, unknown(0, o.master));
    links[0] = zero;
    await authenticateAsDialer(zero, auth, 0);
    const members = await new Promise<MemberInfo[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`group ${o.groupId} rank ${o.rank}: rank 0 did not send the member list before the rendezvous deadline (${o.timeoutMs / 1000} s); some ranks never arrived?`)), Math.max(0, o.deadline - Date.now()));
      const poll = setInterval(() => {
        if (zero.error) {
          clearTimeout(timer);
          clearInterval(poll);
          reject(zero.error);
        }
      }, 50);
      zero.expect(0, 0, {
        collective: COLLECTIVE_CODE.members,
        aux: -1,
        dest: null,
        done: (bytes) => {
          clearTimeout(timer);
          clearInterval(poll);
          try {
            const { members } = parseJson(bytes, 'member list from rank 0') as { members: MemberInfo[] };
            if (!Array.isArray(members) || members.length !== o.size) throw new Error(`rank 0 sent a member list of ${Array.isArray(members) ? members.length : 'no'} entries for a group of ${o.size}`);
            resolve(members);
          } catch (err) {
            reject(err);
          }
        },
      });
    });
    // Accept the ranks above this one, dial the ones between 0 and this one.
    const accepted = new Promise<void>((resolve, reject) => {
      let expected = o.size - 1 - o.rank;
      if (expected === 0) return resolve();
      const timer = setTimeout(() => {
        const missing = members.filter((m) => m.rank > o.rank && !links[m.rank]).map((m) => describeMember(m));
        reject(new Error(`group ${o.groupId} rank ${o.rank}: ${missing.join(', ')} did not connect before the rendezvous deadline`));
      }, Math.max(0, o.deadline - Date.now()));
      server.on('connection', (accepted) => {
        const sink: ChunkSink = { onChunk: null };
        const s = adoptWithSink(accepted, sink);
        const link = newLink(s, sink, unknown(-1, `${s.remoteAddress}:${s.remotePort}`));
        authenticateAsAcceptor(link, auth, (from) => (from < o.rank ? `rank ${from} should be dialled by this rank, not dial it` : links[from] ? `rank ${from} is already linked` : null)).then(
          (peer) => {
            links[peer.rank] = link;
            if (--expected === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
          () => link.destroy(),
        );
      });
    });
    accepted.catch(() => undefined);
    for (let j = 1; j < o.rank; j++) {
      const m = members[j];
      const d = await dial(m.address, o.deadline, `group ${o.groupId} rank ${o.rank} to ${describeMember(m)}`);
      const link = newLink(d.socket, d.sink, m);
      links[j] = link;
      await authenticateAsDialer(link, auth, j);
    }
    await accepted;
    return { members, links };
  } finally {
    closeServer(server);
  }
}
