/** What the dashboard tests share: routes of a running cluster's dashboard, and a reader of its push channel. */
import * as net from 'node:net';
import * as path from 'node:path';

export const TASKS = path.join(__dirname, 'tasks.ts');

/** The dashboard URL of a route, with the token of `dashboardUrl` (or none). */
export function routeUrl(dashboardUrl: string, route: string, withToken = true): string {
  const u = new URL(dashboardUrl);
  const token = u.searchParams.get('token')!;
  const out = new URL(route, `${u.origin}${u.pathname}`);
  if (withToken) out.searchParams.set('token', token);
  return out.toString();
}

export function tokenOf(dashboardUrl: string): string {
  return new URL(dashboardUrl).searchParams.get('token')!;
}

/** The server-sent-events channel, parsed message by message; `close()` ends it. */
export class PushReader {
  readonly messages: { at: number; data: Record<string, any> }[] = [];
  private readonly ctl = new AbortController();
  readonly done: Promise<void>;
  status = 0;

  constructor(url: string) {
    this.done = this.read(url).catch(() => undefined);
  }

  private async read(url: string): Promise<void> {
    const r = await fetch(url, { signal: this.ctl.signal });
    this.status = r.status;
    if (!r.ok || !r.body) return;
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
        if (data) this.messages.push({ at: Date.now(), data: JSON.parse(data) });
      }
    }
  }

  /** The first message (from now on, or any) that `pred` accepts, within `timeoutMs`. */
  async waitFor(pred: (m: Record<string, any>) => boolean, timeoutMs: number, what: string, from = 0): Promise<{ at: number; data: Record<string, any> }> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.messages.slice(from).find((m) => pred(m.data));
      if (found) return found;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`no pushed message with ${what} within ${timeoutMs} ms (${this.messages.length} messages)`);
  }

  close(): void {
    this.ctl.abort();
  }
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

/** A TCP port free on loopback now (for servers the tests start: the proxy, Prometheus). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
