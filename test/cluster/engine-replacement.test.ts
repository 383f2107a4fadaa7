/**
 * Replacement of dead local engines with real processes: `maxReplacements`
 * per launch slot, and the exit codes that are never replaced (0 shut down,
 * 3 controller unreachable).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Cluster, type ReplacementEvent } from '../../cluster';
import { waitFor } from './support/processes';

async function withCluster(opts: Parameters<typeof Cluster.start>[0], body: (cluster: Cluster, logs: string[], events: ReplacementEvent[]) => Promise<void>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-repl-'));
  const logs: string[] = [];
  const events: ReplacementEvent[] = [];
  const cluster = await Cluster.start({ engines: 1, profileDir: dir, output: 'none', handleSigint: false, log: (l) => logs.push(l), ...opts });
  cluster.onReplacement((e) => events.push(e));
  try {
    await body(cluster, logs, events);
  } finally {
    await cluster.close().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The pid of the one alive engine (other than `not`, a pid just killed that the controller may not have declared dead yet). */
async function onlyEnginePid(cluster: Cluster, not = 0): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const alive = (await cluster.engines()).filter((e) => e.state === 'alive' && e.pid !== not);
    if (alive.length === 1) return alive[0].pid;
    assert.ok(Date.now() - t0 < 30_000, `no single alive engine after 30 s: ${JSON.stringify(alive)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('maxReplacements: 1 — the first SIGKILLed engine is replaced, the replacement\'s death is not', async () => {
  await withCluster({ maxReplacements: 1 }, async (cluster, logs, events) => {
    const first = await onlyEnginePid(cluster);
    process.kill(first, 'SIGKILL');
    await waitFor(() => events.some((e) => e.replaced), 20_000, 'a replacement', () => logs.join('\n'));
    const second = await onlyEnginePid(cluster, first);
    assert.notEqual(second, first);
    process.kill(second, 'SIGKILL');
    await waitFor(() => events.length === 2, 20_000, 'the second death', () => logs.join('\n'));
    assert.deepEqual(events.map((e) => ({ attempt: e.attempt, replaced: e.replaced })), [{ attempt: 1, replaced: true }, { attempt: 1, replaced: false }]);
    assert.match(logs.join('\n'), new RegExp(`local engine 0 died \\(engine process ${second} was killed by SIGKILL\\); already replaced 1 times \\(limit 1\\), giving up on it`));
  });
});

test('an engine that shut down (exit 0) is not replaced', async () => {
  await withCluster({}, async (cluster, logs, events) => {
    const pid = await onlyEnginePid(cluster);
    process.kill(pid, 'SIGTERM');
    await waitFor(() => events.length === 1, 20_000, 'the exit', () => logs.join('\n'));
    assert.equal(events[0].replaced, false);
    assert.match(logs.join('\n'), new RegExp(`local engine 0 stopped \\(engine process ${pid} exited with code 0\\); not replacing it`));
  });
});

test('an engine that cannot reach its controller (exit 3) is not replaced', async () => {
  await withCluster({ controller: 'process', engineArgs: ['--reconnect-timeout', '1'] }, async (cluster, logs, events) => {
    const pid = await onlyEnginePid(cluster);
    const controllerPid = JSON.parse(fs.readFileSync(cluster.connectionFile, 'utf8')).pid as number;
    process.kill(controllerPid, 'SIGKILL');
    await waitFor(() => events.length === 1, 30_000, 'the engine to give up', () => logs.join('\n'));
    assert.equal(events[0].replaced, false);
    assert.match(logs.join('\n'), new RegExp(`local engine 0 stopped \\(engine process ${pid} exited with code 3\\); not replacing it`));
  });
});
