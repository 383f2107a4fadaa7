/**
 * Test support: an in-process controller in a temp profile dir plus the
 * lightweight protocol peers from bench/support (real wire protocol, not the
 * hpcdl engine).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Controller, type ControllerOptions } from '../../../cluster/controller';
import { LightClient, LightEngine, type LightEngineOptions } from '../../../bench/support/cluster-peers';

export { LightClient, LightEngine };

export interface Harness {
  dir: string;
  controller: Controller;
  logs: string[];
  engine(opts?: Partial<LightEngineOptions>): Promise<LightEngine>;
  client(session?: string): Promise<LightClient>;
  close(): Promise<void>;
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-'));
}

export async function startHarness(opts: ControllerOptions = {}): Promise<Harness> {
  const dir = opts.profileDir ?? tempDir();
  const logs: string[] = [];
  const controller = await Controller.start({ clusterId: 'test', ...opts, profileDir: dir, log: (l) => logs.push(l) });
  const engines: LightEngine[] = [];
  const clients: LightClient[] = [];
  return {
    dir,
    controller,
    logs,
    async engine(o = {}) {
      const e = new LightEngine({ url: controller.url, key: controller.key, ...o });
      engines.push(e);
      await e.start();
      return e;
    },
    async client(session) {
      const c = new LightClient(controller.url, controller.key, session);
      clients.push(c);
      await c.connect();
      return c;
    },
    async close() {
      for (const c of clients) c.close();
      for (const e of engines) e.close();
      await controller.close();
      if (!opts.profileDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function until(pred: () => boolean, timeoutMs = 10000, what = 'condition'): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
