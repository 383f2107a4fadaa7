/**
 * Point-to-point messages (cluster/collectives/point-to-point.ts) between
 * three real rank processes on loopback: every message arrives once, in the
 * order sent, with its header and floats intact, whether the receive was
 * posted before or after it arrived and while another rank sends too; a
 * collective after the messages still works; a killed peer fails a waiting
 * receive at once, naming the peer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const RANK = `
const { joinGroup, pointToPoint } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'cluster', 'collectives'))});
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const N = 40;
const payload = (from, i) => Float32Array.from({ length: (i * 7919) % 300000 }, (_, k) => from * 1e6 + i * 1000 + (k % 1000));
(async () => {
  const [rank, master] = [Number(process.argv[2]), process.argv[3]];
  const g = await joinGroup({ groupId: 'p2p', rank, size: 3, key: 'k'.repeat(64), master: rank ? master : undefined, host: '127.0.0.1', onListening: (a) => console.log('LISTENING ' + a) });
  const p2p = pointToPoint(g);
  if (rank === 0 || rank === 2) {
    for (let i = 0; i < N; i++) {
      const reply = p2p.recv(1); // posted before the request: the answer cannot come first
      await p2p.send(1, { meta: { i, from: rank, text: 'ü'.repeat(i % 5) }, data: i % 9 === 0 ? undefined : payload(rank, i) });
      const r = await reply;
      if (r.meta.i !== i || r.meta.sum !== (i % 9 === 0 ? 0 : payload(rank, i).reduce((a, b) => a + b, 0))) throw new Error('bad reply ' + JSON.stringify(r.meta));
    }
  } else {
    const serve = async (peer) => {
      for (let i = 0; i < N; i++) {
        if (i % 3 === 0) await sleep(5); // the message is often there before its receive
        const m = await p2p.recv(peer);
        const want = i % 9 === 0 ? undefined : payload(peer, i);
        if (m.meta.i !== i || m.meta.from !== peer || m.meta.text !== 'ü'.repeat(i % 5)) throw new Error('out of order or wrong header from ' + peer + ': ' + JSON.stringify(m.meta) + ' at ' + i);
        if ((m.data?.length ?? 0) !== (want?.length ?? 0) || (want && want.some((x, k) => x !== m.data[k]))) throw new Error('wrong floats from ' + peer + ' at ' + i);
        await p2p.send(peer, { meta: { i, sum: m.data ? m.data.reduce((a, b) => a + b, 0) : 0 } });
      }
    };
    await Promise.all([serve(0), serve(2)]);
  }
  const ranks = await g.allgatherJson(rank); // a collective after the messages
  console.log('EXCHANGED ' + ranks.join(','));
  if (rank === 1) {
    try {
      await p2p.recv(2); // rank 2 is killed by the test instead of sending
    } catch (e) {
      console.log('FAILED ' + e.message);
      process.exit(0);
    }
  } else if (rank === 2) {
    await sleep(60_000);
  } else {
    await g.close(); // in good order: rank 1 is not waiting for rank 0
    process.exit(0);
  }
})().catch((e) => { console.log('ERROR ' + e.message); process.exit(3); });
`;

test('point-to-point messages: in order, intact, early or late receives, two senders; a killed peer is named', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-p2p-'));
  const script = path.join(dir, 'rank.js');
  fs.writeFileSync(script, RANK);
  const start = (rank: number, master = '') => spawn(process.execPath, ['--import', 'tsx', script, String(rank), master], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = (p: ChildProcess) => {
    const out: string[] = [];
    p.stdout!.on('data', (d) => out.push(...String(d).split('\n').filter(Boolean)));
    return out;
  };
  const ranks: ChildProcess[] = [start(0)];
  const out0 = lines(ranks[0]);
  const waitFor = async (out: string[], re: RegExp) => {
    for (let i = 0; i < 600 && !out.some((l) => re.test(l)); i++) await new Promise((r) => setTimeout(r, 50));
    return out.find((l) => re.test(l));
  };
  const master = /LISTENING (\S+)/.exec((await waitFor(out0, /LISTENING/))!)![1];
  ranks.push(start(1, master), start(2, master));
  const [out1, out2] = [lines(ranks[1]), lines(ranks[2])];
  try {
    for (const out of [out0, out1, out2]) assert.match((await waitFor(out, /EXCHANGED|ERROR/)) ?? 'timed out', /^EXCHANGED 0,1,2$/, out.join('\n'));
    const killedAt = Date.now();
    ranks[2].kill('SIGKILL');
    const failed = await waitFor(out1, /FAILED|ERROR/);
    console.log(`rank 1, ${Date.now() - killedAt} ms after rank 2 was killed: ${failed}`);
    assert.match(failed ?? 'timed out', /^FAILED .*rank 2 \(pid \d+ on .*\) died/);
    assert.ok(Date.now() - killedAt < 5000);
  } finally {
    for (const p of ranks) if (p.exitCode === null) p.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
