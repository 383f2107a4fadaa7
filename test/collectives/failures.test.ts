/**
 * Failure semantics with real rank processes: a wrong key is refused and both
 * sides name the other; a SIGKILLed rank fails every other rank's collective
 * within 5 s naming its rank, host and pid; a SIGSTOPped rank is found by the
 * heartbeat; a rendezvous that misses a rank names it; ranks that pass
 * different lengths fail naming both calls. No rank hangs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as os from 'node:os';
import { startGroup } from './support/spawn-group';

const BAD_KEY = 'b'.repeat(64);

test('a rank with the wrong key is refused; rank 0 logs the refusal naming it and times out naming the missing rank', { timeout: 60_000 }, async () => {
  const run = await startGroup(2, [{ op: 'barrier' }], { keys: { 1: BAD_KEY }, timeoutMs: 4000 });
  try {
    const [zero, one] = run.ranks;
    const refused = await one.waitFor(/^ERROR /, 20_000);
    assert.match(refused, /rank 0 at 127\.0\.0\.1:\d+ of group \S+ failed authentication: its proof does not match this rank's key/);
    const timedOut = await zero.waitFor(/^ERROR /, 20_000);
    assert.match(timedOut, /rendezvous of group \S+ timed out after 4 s at rank 0 \(127\.0\.0\.1:\d+\): rank 1 never arrived/);
    assert.equal(await zero.exited, 3);
    assert.equal(await one.exited, 3);
    // The dialer drops the connection when rank 0's proof fails; rank 0 logs the refusal naming the rank it claimed to be.
    assert.match(zero.stderr(), new RegExp(`refused rank 1 \\(pid ${one.child.pid} on ${os.hostname()}\\) at 127\\.0\\.0\\.1:\\d+: it left after the challenge, so it does not hold this group's key`));
  } finally {
    run.kill();
  }
});

test('a SIGKILLed rank makes every other rank fail within 5 s, naming its rank, host and pid', { timeout: 90_000 }, async () => {
  const run = await startGroup(3, [{ op: 'loop', length: 300_000 }]);
  try {
    await Promise.all(run.ranks.map((r) => r.waitFor(/^ITER 3$/, 30_000)));
    const victim = run.ranks[2];
    const t0 = Date.now();
    victim.child.kill('SIGKILL');
    for (const r of [run.ranks[0], run.ranks[1]]) {
      const line = await r.waitFor(/^ERROR /, 5000);
      assert.ok(Date.now() - t0 < 5000, `rank ${r.rank} failed after ${Date.now() - t0} ms`);
      assert.match(line, new RegExp(`rank 2 \\(pid ${victim.child.pid} on ${os.hostname()}\\)`), `rank ${r.rank}: ${line}`);
      assert.equal(await r.exited, 3);
    }
  } finally {
    run.kill();
  }
});

test('a SIGSTOPped rank is found by the link heartbeat; its peers fail naming it', { timeout: 90_000 }, async () => {
  const run = await startGroup(2, [{ op: 'loop', length: 1000 }], { heartbeatTimeoutMs: 2000 });
  const victim = run.ranks[1];
  try {
    await Promise.all(run.ranks.map((r) => r.waitFor(/^ITER 3$/, 30_000)));
    const t0 = Date.now();
    victim.child.kill('SIGSTOP');
    const line = await run.ranks[0].waitFor(/^ERROR /, 15_000);
    const ms = Date.now() - t0;
    assert.match(line, new RegExp(`rank 1 \\(pid ${victim.child.pid} on ${os.hostname()}\\) is silent: nothing received for \\d+\\.\\d s \\(heartbeat timeout 2 s`));
    assert.ok(ms >= 1500 && ms < 10_000, `detected after ${ms} ms (timeout 2 s)`);
  } finally {
    victim.child.kill('SIGCONT');
    run.kill();
  }
});

test('a rendezvous that misses a rank names it on rank 0, and the ranks that came fail too', { timeout: 60_000 }, async () => {
  const run = await startGroup(3, [{ op: 'barrier' }], { only: [1], timeoutMs: 3000 });
  try {
    const zero = await run.ranks[0].waitFor(/^ERROR /, 20_000);
    assert.match(zero, /timed out after 3 s at rank 0 \(127\.0\.0\.1:\d+\): rank 2 never arrived \(arrived: 0, 1\)/);
    const one = await run.ranks[1].waitFor(/^ERROR /, 20_000);
    assert.match(one, /rank 2 never arrived/);
  } finally {
    run.kill();
  }
});

test('ranks that allreduce different lengths fail naming both calls (no hang)', { timeout: 60_000 }, async () => {
  const run = await startGroup(2, [{ op: 'allreduce', length: 0, lengthByRank: [10, 12], fill: 'int' }]);
  try {
    for (const r of run.ranks) {
      const line = await r.waitFor(/^ERROR /, 20_000);
      assert.match(line, /collective mismatch in call 1: rank \d \(pid \d+ on .*\) runs allreduce\((10|12) elements\) while this rank runs allreduce\((10|12) elements\)|aborted the group: collective mismatch/);
    }
  } finally {
    run.kill();
  }
});

test('a rank that skips a collective: the waiting rank logs whom it waits for, and collectiveTimeoutMs fails it naming them', { timeout: 60_000 }, async () => {
  const run = await startGroup(2, [{ op: 'allreduce', length: 10, fill: 'int', onlyRanks: [0] }, { op: 'sleep', ms: 8000 }], { stallWarningMs: 500, collectiveTimeoutMs: 2500 });
  try {
    const [zero, one] = run.ranks;
    const line = await zero.waitFor(/^ERROR /, 20_000);
    assert.match(line, new RegExp(`allreduce \\(call 1\\) timed out after 2\\.\\d s \\(collectiveTimeoutMs\\) waiting for rank 1 \\(pid ${one.child.pid} on `));
    assert.match(zero.stderr(), new RegExp(`allreduce \\(call 1\\) has waited [12] s for rank 1 \\(pid ${one.child.pid} on .*\\); does every rank make the same collective calls\\?`));
  } finally {
    run.kill();
  }
});

test('an unauthenticated connection announcing a huge frame is dropped, and the rendezvous goes on', { timeout: 60_000 }, async () => {
  const net = await import('node:net');
  const { joinGroup } = await import('../../cluster/collectives');
  const logs: string[] = [];
  let master = '';
  const zero = joinGroup({ groupId: 'intruder', rank: 0, size: 2, key: 'k', host: '127.0.0.1', timeoutMs: 20_000, log: (l) => logs.push(l), onListening: (a) => (master = a) });
  while (!master) await new Promise((r) => setTimeout(r, 10));
  const [host, port] = master.split(':');
  const intruder = net.connect({ host, port: Number(port) });
  await new Promise((r) => intruder.once('connect', r));
  const header = Buffer.alloc(24);
  header.writeUInt8(1, 0); // a hello frame...
  header.writeUInt32LE(100_000_000, 16); // ...of 100 MB
  intruder.write(header);
  const closed = new Promise((r) => intruder.once('close', r));
  intruder.on('error', () => undefined);
  await closed;
  const one = await joinGroup({ groupId: 'intruder', rank: 1, size: 2, key: 'k', master, host: '127.0.0.1' });
  const g0 = await zero;
  const [a] = await Promise.all([g0.allreduce(new Float32Array([1])), one.allreduce(new Float32Array([2]))]);
  assert.deepEqual([...a], [3]);
  assert.ok(logs.some((l) => /dropped a connection from 127\.0\.0\.1:\d+: .*100000000-byte handshake frame \(at most 8192 before authentication\)/.test(l)), logs.join('\n'));
  await Promise.all([g0.close(), one.close()]);
});
