/**
 * Bounded scale run against a real `hpcdl controller` process: 1,000
 * protocol-speaking engines (4 host processes) register, and a 100,000-task
 * map over them loses and duplicates nothing. Speed is reported, not asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScale } from '../../bench/cluster_scale';

test('1,000 engines register and a 100,000-task map loses nothing', async () => {
  const f = await runScale({ engines: 1000, tasks: 100000, hosts: 4 });
  assert.equal(f.registeredEngines, 1000);
  assert.equal(f.results, 100000);
  assert.equal(f.wrongValues, 0);
  assert.equal(f.duplicates, 0);
  assert.ok(f.enginesUsed > 500, `work spread over ${f.enginesUsed} engines`);
  assert.ok(f.memoryPerQueuedTaskBytes.heap > 0);
});
