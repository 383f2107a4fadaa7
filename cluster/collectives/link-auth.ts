/**
 * Challenge-response authentication of a rank-to-rank link with the group key,
 * once per connection. Both sides prove they hold the key with an HMAC over
 * both nonces, the group id and both ranks, so a proof is never valid on
 * another connection, group or rank pair:
 *
 *   dialer → acceptor   hello     {groupId, from, to, nonce D, member}
 *   acceptor → dialer   challenge {nonce A, proof A = HMAC(key, "acceptor" | group | from | to | D | A), member}
 *   dialer → acceptor   proof     {proof D = HMAC(key, "dialer" | group | from | to | D | A)}
 *   acceptor → dialer   ok        (or refused {reason}; both ends log who was refused)
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { FRAME_KIND } from './frame';
import { describeMember, type MemberInfo } from './link';
import type { TcpLink } from './tcp-link';

const VERSION = 1;

export interface AuthContext {
  groupId: string;
  key: string;
  self: MemberInfo;
  size: number;
  log: (line: string) => void;
  deadline: number;
}

function proof(key: string, role: 'dialer' | 'acceptor', groupId: string, from: number, to: number, nonceD: string, nonceA: string): Buffer {
  return createHmac('sha256', Buffer.from(key, 'utf8')).update(`hpcdl-group-link-v${VERSION}|${role}|${groupId}|${from}|${to}|${nonceD}|${nonceA}`).digest();
}

function sameProof(expected: Buffer, got: unknown): boolean {
  if (typeof got !== 'string' || !/^[0-9a-f]{64}$/.test(got)) return false;
  return timingSafeEqual(expected, Buffer.from(got, 'hex'));
}

/** The next handshake message, or an error when the link fails or the deadline passes. */
function nextHello(link: TcpLink, deadline: number, what: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      link.onHello = null;
      reject(new Error(`${what}: no answer from ${link.who()} before the rendezvous deadline`));
    }, Math.max(0, deadline - Date.now()));
    const failed = setInterval(() => {
      if (link.error) finish(() => reject(link.error!));
    }, 50);
    const finish = (f: () => void) => {
      clearTimeout(timer);
      clearInterval(failed);
      link.onHello = null;
      f();
    };
    link.onHello = (value) => {
      if (value === null || typeof value !== 'object') finish(() => reject(new Error(`${what}: malformed handshake message from ${link.who()}`)));
      else finish(() => resolve(value as Record<string, unknown>));
    };
  });
}

function checkMember(value: unknown, rank: number, size: number, who: string): MemberInfo {
  const m = value as MemberInfo;
  if (!m || typeof m !== 'object' || m.rank !== rank || typeof m.address !== 'string' || typeof m.hostname !== 'string' || typeof m.pid !== 'number') {
    throw new Error(`handshake from ${who}: malformed member description ${JSON.stringify(value)}`);
  }
  if (rank < 0 || rank >= size) throw new Error(`handshake from ${who}: rank ${rank} is outside the group of size ${size}`);
  return m;
}

/** Dial side: prove the key to rank `to` and check its proof. Resolves with the peer's description. */
export async function authenticateAsDialer(link: TcpLink, ctx: AuthContext, to: number): Promise<MemberInfo> {
  const nonceD = randomBytes(32).toString('hex');
  const where = `rank ${to} at ${link.peer.address}`;
  const reply = nextHello(link, ctx.deadline, `joining group ${ctx.groupId}`);
  await link.sendJson(FRAME_KIND.hello, { v: VERSION, step: 'hello', groupId: ctx.groupId, from: ctx.self.rank, to, nonce: nonceD, size: ctx.size, member: ctx.self });
  const challenge = await reply;
  if (challenge.step === 'refused') throw new Error(`${where} refused this rank: ${String(challenge.reason)}`);
  if (challenge.step !== 'challenge' || typeof challenge.nonce !== 'string') throw new Error(`${where} answered the handshake with ${JSON.stringify(challenge.step)} (not an hpcdl group listener?)`);
  const nonceA = challenge.nonce;
  if (!sameProof(proof(ctx.key, 'acceptor', ctx.groupId, ctx.self.rank, to, nonceD, nonceA), challenge.proof)) {
    const msg = `${where} of group ${ctx.groupId} failed authentication: its proof does not match this rank's key (wrong key, or not this group's rank ${to})`;
    ctx.log(msg);
    throw new Error(msg);
  }
  const peer = checkMember(challenge.member, to, ctx.size, where);
  const verdict = nextHello(link, ctx.deadline, `joining group ${ctx.groupId}`);
  link.expectOk = true;
  await link.sendJson(FRAME_KIND.hello, { step: 'proof', proof: proof(ctx.key, 'dialer', ctx.groupId, ctx.self.rank, to, nonceD, nonceA).toString('hex') });
  const ok = await verdict;
  if (ok.step !== 'ok') throw new Error(`${describeMember(peer)} at ${link.peer.address} refused this rank: ${String(ok.reason ?? ok.step)}`);
  link.authenticated(peer);
  return peer;
}

/**
 * Accept side: check the dialer's hello and proof. `accept(from)` says whether
 * a dialer of that rank is welcome now (e.g. not a duplicate). Resolves with
 * the peer's description; on a wrong key, logs the refusal naming the peer.
 */
export async function authenticateAsAcceptor(link: TcpLink, ctx: AuthContext, accept: (from: number) => string | null): Promise<MemberInfo> {
  const remote = `${link.socket.remoteAddress}:${link.socket.remotePort}`;
  const hello = await nextHello(link, ctx.deadline, `accepting a rank of group ${ctx.groupId}`);
  const refuse = async (reason: string) => {
    ctx.log(`group ${ctx.groupId} rank ${ctx.self.rank}: refused a connection from ${remote}: ${reason}`);
    await link.sendJson(FRAME_KIND.hello, { step: 'refused', reason }).catch(() => undefined);
    link.destroy();
    throw new Error(`refused a connection from ${remote}: ${reason}`);
  };
  if (hello.step !== 'hello' || hello.v !== VERSION) return refuse(`not an hpcdl group handshake (version ${JSON.stringify(hello.v)}, expected ${VERSION})`);
  if (hello.groupId !== ctx.groupId) return refuse(`it joins group ${JSON.stringify(hello.groupId)}, this is group ${JSON.stringify(ctx.groupId)}`);
  if (hello.to !== ctx.self.rank) return refuse(`it dials rank ${JSON.stringify(hello.to)}, this is rank ${ctx.self.rank}`);
  if (hello.size !== ctx.size) return refuse(`it expects a group of ${JSON.stringify(hello.size)} ranks, this group has ${ctx.size}`);
  const from = hello.from;
  if (typeof from !== 'number' || !Number.isInteger(from) || from < 0 || from >= ctx.size || from === ctx.self.rank) return refuse(`invalid rank ${JSON.stringify(from)}`);
  let claimed: MemberInfo;
  try {
    claimed = checkMember(hello.member, from, ctx.size, remote);
  } catch (err) {
    return refuse((err as Error).message);
  }
  const nonceD = String(hello.nonce);
  const nonceA = randomBytes(32).toString('hex');
  const answer = nextHello(link, ctx.deadline, `accepting rank ${from} of group ${ctx.groupId}`);
  await link.sendJson(FRAME_KIND.hello, { step: 'challenge', nonce: nonceA, proof: proof(ctx.key, 'acceptor', ctx.groupId, from, ctx.self.rank, nonceD, nonceA).toString('hex'), member: ctx.self });
  const answered = await answer.catch((err: Error) => {
    // A dialer that finds this rank's proof wrong (it holds another key) drops the connection instead of answering.
    const msg = `group ${ctx.groupId} rank ${ctx.self.rank}: refused ${describeMember(claimed)} at ${remote}: it left after the challenge, so it does not hold this group's key (wrong key?) (${err.message})`;
    ctx.log(msg);
    throw new Error(msg);
  });
  if (!sameProof(proof(ctx.key, 'dialer', ctx.groupId, from, ctx.self.rank, nonceD, nonceA), answered.proof)) {
    return refuse(`${describeMember(claimed)} presented a wrong key`);
  }
  const why = accept(from);
  if (why) return refuse(why);
  link.authenticated(claimed);
  await link.sendJson(FRAME_KIND.hello, { step: 'ok' });
  return claimed;
}
