/**
 * Bounded scale run against a real `hpcdl controller` process: 1,000
 * protocol-speaking engines (4 host processes) register, and a 100,000-task
 * map over them loses and duplicates nothing. Speed is reported, not asserted.
 *
 * How many engines end up delivering results depends on machine load
 * (engines starved of CPU miss heartbeats and their tasks move elsewhere),
 * so the spread is checked per host process instead: the controller's
 * /api/engines (tasks_done per engine, with its process id) is watched during
 * the run, and more than one host process must have done work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readConnectionFile } from '../../cluster/protocol';
import { runScale } from '../../bench/cluster-scale';

interface EngineRow {
  engine_id: number;
  host: string;
  /** the host process the engine lives in */
  pid: number;
  tasks_done: number;
}

/**
 * Watch the scale controller's engine table while `run` goes on. runScale
 * keeps its profile dir under os.tmpdir(), so TMPDIR points at a dir of ours
 * for the run to find the connection file.
 */
async function withEngineWatch<T>(run: () => Promise<T>): Promise<{ result: T; engines: Map<number, EngineRow> }> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = root;
  const engines = new Map<number, EngineRow>();
  let running = true;
  const watch = (async () => {
    while (running) {
      await new Promise((r) => setTimeout(r, 500));
      const file = findConnectionFile(root);
      if (!file) continue;
      try {
        const url = readConnectionFile(file).dashboard_url.replace('/?', '/api/engines?');
        const rows = (await fetch(url).then((r) => r.json())) as EngineRow[];
        for (const row of rows) engines.set(row.engine_id, row);
      } catch {
        // controller not up yet, or already stopped
      }
    }
  })();
  try {
    const result = await run();
    return { result, engines };
  } finally {
    running = false;
    await watch;
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    fs.rmSync(root, { recursive: true, force: true });
  }
}

function findConnectionFile(root: string): string | null {
  for (const dir of fs.readdirSync(root)) {
    const file = path.join(root, dir, 'clusters', 'scale.json');
    if (fs.existsSync(file)) return file;
  }
  return null;
}

test('1,000 engines register and a 100,000-task map loses nothing', async () => {
  const { result: f, engines } = await withEngineWatch(() => runScale({ engines: 1000, tasks: 100000, hosts: 4 }));
  assert.equal(f.registeredEngines, 1000);
  assert.equal(f.results, 100000);
  assert.equal(f.wrongValues, 0, 'every task id has exactly its own value');
  assert.equal(f.duplicates, 0);
  assert.ok(f.enginesUsed > 1, `results came from ${f.enginesUsed} engines`);
  assert.equal(engines.size, 1000, 'the controller listed every engine');
  assert.equal(new Set([...engines.values()].map((e) => e.pid)).size, 4, 'engines from all 4 host processes');
  const busyProcesses = new Set([...engines.values()].filter((e) => e.tasks_done > 0).map((e) => e.pid));
  assert.ok(busyProcesses.size > 1, `tasks ran in ${busyProcesses.size} host process(es)`);
  assert.ok(f.memoryPerQueuedTaskBytes.heap > 0);
});
