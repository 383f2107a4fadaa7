import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../../cluster/transport/backoff';

test('backoff doubles the retry delay up to its ceiling and starts over on reset', () => {
  const cases: Array<{ opts: ConstructorParameters<typeof Backoff>[0]; delays: number[] }> = [
    { opts: {}, delays: [200, 400, 800, 1600, 2000, 2000] },
    { opts: { initialDelayMs: 50, maxDelayMs: 300 }, delays: [50, 100, 200, 300, 300] },
    { opts: { initialDelayMs: 200, maxDelayMs: 200 }, delays: [200, 200, 200] },
  ];
  for (const { opts, delays } of cases) {
    const b = new Backoff(opts);
    assert.deepEqual(delays.map(() => b.failed().delayMs), delays, JSON.stringify(opts));
    b.reset();
    assert.equal(b.failed().delayMs, delays[0]);
  }
});

test('backoff measures how long the other side has been unreachable from the first failure', async () => {
  const b = new Backoff();
  assert.equal(b.failed().waitedMs, 0);
  await new Promise((r) => setTimeout(r, 60));
  const { waitedMs } = b.failed();
  assert.ok(waitedMs >= 50 && waitedMs < 5000, `waited ${waitedMs} ms`);
  b.reset();
  assert.equal(b.failed().waitedMs, 0);
});
