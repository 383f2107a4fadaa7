/**
 * What data-parallel training needs of the collectives: a collective whose
 * data starts arriving while the receiving rank is still busy elsewhere must
 * complete. Until 2026-12-04 a data frame whose header arrived before
 * `expect()` was posted and whose payload completed after it was lost, and
 * `hpcdl train --engines 2` hung about one run in ten in rank 0's broadcast
 * of the initial state.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const RANK = `
const { joinGroup } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'cluster', 'collectives'))});
(async () => {
  const [rank, master] = [Number(process.argv[2]), process.argv[3]];
  const g = await joinGroup({ groupId: 'late', rank, size: 2, key: 'k'.repeat(64), master: rank ? master : undefined, host: '127.0.0.1', onListening: (a) => console.log('LISTENING ' + a) });
  for (let i = 0; i < 40; i++) {
    await g.allgatherJson(i);
    if (rank === 1) await new Promise((r) => setTimeout(r, (i % 4) * 2)); // the receiver is busy when the root sends
    const data = new Float32Array(98718).fill(rank);
    await g.broadcast(data, 0);
    if (data[7] !== 0) throw new Error('broadcast delivered wrong data');
  }
  console.log('DONE');
  process.exit(0);
})().catch((e) => { console.log('ERROR ' + e.message); process.exit(3); });
`;

test('a broadcast completes when its data starts arriving before the receiver posts it', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-late-'));
  const script = path.join(dir, 'rank.js');
  fs.writeFileSync(script, RANK);
  const start = (rank: number, master = '') => spawn(process.execPath, ['--import', 'tsx', script, String(rank), master], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = (p: ReturnType<typeof start>) => new Promise<string>((resolve) => {
    let s = '';
    p.stdout!.on('data', (d) => (s += d));
    p.on('close', () => resolve(s));
  });
  const r0 = start(0);
  const listening = await new Promise<string>((resolve) => r0.stdout!.on('data', (d) => /LISTENING (\S+)/.test(String(d)) && resolve(/LISTENING (\S+)/.exec(String(d))![1])));
  const r1 = start(1, listening);
  const timer = setTimeout(() => [r0, r1].forEach((p) => p.kill('SIGKILL')), 30_000);
  const [o0, o1] = await Promise.all([out(r0), out(r1)]);
  clearTimeout(timer);
  fs.rmSync(dir, { recursive: true, force: true });
  assert.match(o1, /DONE/, `rank 1: ${o1}`);
  assert.match(o0, /DONE/, `rank 0: ${o0}`);
});
