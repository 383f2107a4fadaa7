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
