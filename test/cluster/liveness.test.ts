import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Liveness } from '../../cluster/transport/liveness';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('liveness beats only while nothing was sent, and reports a silent side once', async () => {
  const l = new Liveness();
  let beats = 0;
  const silences: number[] = [];
  l.start({ intervalMs: 20, silentMs: 150, beat: () => beats++, onSilent: (ms) => silences.push(ms) });
  // Sending keeps beats away; hearing keeps silence away.
  for (let i = 0; i < 6; i++) {
    l.sent();
    l.heard();
    await sleep(10);
  }
  assert.ok(beats <= 1, `${beats} beats while sending`);
  await sleep(400);
  assert.ok(beats >= 2, `${beats} beats while idle`);
  assert.equal(silences.length, 1);
  assert.ok(silences[0] > 150, `silent for ${silences[0]} ms`);
  assert.equal(l.running, false);
});

test('liveness does not judge the other side on a tick delayed by its own blocked event loop', async () => {
  const l = new Liveness();
  const silences: number[] = [];
  l.start({ intervalMs: 20, silentMs: 60, onSilent: (ms) => silences.push(ms) });
  const until = Date.now() + 200;
  while (Date.now() < until); // block this process's event loop past silentMs
  await sleep(5);
  assert.deepEqual(silences, []);
  l.heard(); // what the socket read once the loop ran again
  await sleep(30);
  assert.deepEqual(silences, []);
  l.stop();
});

test('liveness skips ticks while the owner says the connection is not active', async () => {
  const l = new Liveness();
  let beats = 0;
  const silences: number[] = [];
  l.start({ intervalMs: 10, silentMs: 30, active: () => false, beat: () => beats++, onSilent: (ms) => silences.push(ms) });
  await sleep(120);
  l.stop();
  assert.equal(beats, 0);
  assert.deepEqual(silences, []);
});
