/**
 * Cluster.connect loads the client only: in a fresh process, joining a
 * running cluster leaves the controller, its WebSocket server, the dashboard
 * and the launchers unloaded (they come with Cluster.start).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster } from '../../cluster/client';
import { runTsx } from '../support/run';

test('Cluster.connect in a fresh process does not load the controller, the dashboard or the launchers', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-connect-'));
  const cluster = await Cluster.start({ engines: 1, profileDir: dir, output: 'none', handleSigint: false, log: () => undefined });
  try {
    const child = await runTsx(path.join(__dirname, 'support', 'connect-and-list-modules.ts'), [cluster.connectionFile], { timeoutMs: 60_000 });
    assert.equal(child.code, 0, child.stderr);
    const [first, ...modules] = child.stdout.trim().split('\n');
    assert.equal(first, 'engines 1', 'the child saw the running cluster');
    assert.ok(modules.includes('cluster/client/cluster.ts'), `the module list is read from require.cache:\n${modules.join('\n')}`);
    assert.ok(modules.includes('cluster/transport/peer.ts'));
    const heavy = modules.filter((m) => /^cluster\/(controller|dashboard|launchers|client\/local)\//.test(m));
    assert.deepEqual(heavy, [], 'Cluster.connect loaded start-only modules');
  } finally {
    await cluster.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
