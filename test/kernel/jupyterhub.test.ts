/**
 * Debian JupyterHub 3.0 (DummyAuthenticator, SimpleLocalProcessSpawner,
 * configurable-http-proxy from node_modules) with the hpcdl kernel: log in
 * over HTTP, spawn the single-user server, run a cell on the hpcdl kernel
 * through the hub's proxy. Everything binds to 127.0.0.1; all processes are
 * stopped by PID at the end.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import {
  freePort,
  installTestKernel,
  KernelSession,
  makeSettings,
  REPO_ROOT,
  sleep,
  stopProcess,
  tempDir,
  waitForHttp,
  type JupyterServer,
  type TestKernel,
} from '../support/jupyter';
import { alive } from '../support/pids';

const USER = 'hpcdl-hubuser';
const PASSWORD = randomBytes(8).toString('hex');

let kernel: TestKernel;
let hub: ChildProcess | null = null;
let hubLog = '';
let workDir: string;
let hubUrl: string;

function hubConfig(opts: { port: number; hubPort: number; apiPort: number; proxyToken: string }): string {
  const py = (v: unknown) => JSON.stringify(v);
  return `
c.JupyterHub.ip = '127.0.0.1'
c.JupyterHub.port = ${opts.port}
c.JupyterHub.hub_ip = '127.0.0.1'
c.JupyterHub.hub_port = ${opts.hubPort}
c.JupyterHub.db_url = ${py(`sqlite:///${path.join(workDir, 'jupyterhub.sqlite')}`)}
c.JupyterHub.cookie_secret_file = ${py(path.join(workDir, 'cookie_secret'))}
c.JupyterHub.pid_file = ${py(path.join(workDir, 'hub.pid'))}
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True
c.JupyterHub.authenticator_class = 'dummy'
c.DummyAuthenticator.password = ${py(PASSWORD)}
c.Authenticator.allowed_users = {${py(USER)}}
c.JupyterHub.spawner_class = 'simple'
c.SimpleLocalProcessSpawner.home_dir_template = ${py(path.join(workDir, 'home', '{username}'))}
c.Spawner.cmd = ['jupyterhub-singleuser']
c.Spawner.args = ['--allow-root']
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
c.Spawner.environment = {'JUPYTER_PATH': ${py(path.join(kernel.prefix, 'share', 'jupyter'))}}
c.ConfigurableHTTPProxy.command = [${py(path.join(REPO_ROOT, 'node_modules', '.bin', 'configurable-http-proxy'))}]
c.ConfigurableHTTPProxy.api_url = 'http://127.0.0.1:${opts.apiPort}'
c.ConfigurableHTTPProxy.auth_token = ${py(opts.proxyToken)}
c.ConfigurableHTTPProxy.pid_file = ${py(path.join(workDir, 'proxy.pid'))}
c.ConfigurableHTTPProxy.should_start = True
`;
}

/** PIDs of all descendants of `pid` (from /proc), deepest first. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // process ended while scanning
    }
  }
  const out: number[] = [];
  const visit = (p: number) => {
    for (const c of children.get(p) ?? []) {
      visit(c);
      out.push(c);
    }
  };
  visit(pid);
  return out;
}

async function waitUntilEnded(pids: number[], ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  return pids.filter(alive);
}

/** fetch with a cookie jar (JupyterHub's login flow is cookie based). */
class CookieClient {
  private readonly cookies = new Map<string, string>();

  async fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(30_000) });
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      this.cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    return res;
  }

  names(): string[] {
    return [...this.cookies.keys()];
  }
}

before(async () => {
  kernel = installTestKernel('hpcdl-hubtest');
  workDir = tempDir('hpcdl-hub-');
  const [port, hubPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  hubUrl = `http://127.0.0.1:${port}`;
  const configFile = path.join(workDir, 'jupyterhub_config.py');
  fs.writeFileSync(configFile, hubConfig({ port, hubPort, apiPort, proxyToken: randomBytes(16).toString('hex') }));
  hub = spawn('jupyterhub', ['-f', configFile], { cwd: workDir, stdio: ['ignore', 'pipe', 'pipe'] });
  hub.stdout?.on('data', (d) => (hubLog += d));
  hub.stderr?.on('data', (d) => (hubLog += d));
  await waitForHttp(`${hubUrl}/hub/login`, hub, () => hubLog, 90_000);
});

after(async () => {
  if (hub?.pid) {
    const spawned = descendants(hub.pid);
    await stopProcess(hub, 20_000); // cleanup_servers/cleanup_proxy stop the server and proxy
    for (const pid of await waitUntilEnded(spawned, 5_000)) process.kill(pid, 'SIGKILL');
    assert.deepEqual(await waitUntilEnded(spawned, 5_000), [], 'hub children left running');
  }
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  kernel?.remove();
});

test('JupyterHub: log in, spawn a single-user server, run a cell on the hpcdl kernel', { timeout: 240_000 }, async () => {
  const browser = new CookieClient();
  const loginPage = await browser.fetch(`${hubUrl}/hub/login`);
  assert.equal(loginPage.status, 200);
  const loginForm = await loginPage.text();
  const xsrf = /name="_xsrf" value="([^"]+)"/.exec(loginForm)?.[1];
  const form = new URLSearchParams({ username: USER, password: PASSWORD, ...(xsrf ? { _xsrf: xsrf } : {}) });
  const login = await browser.fetch(`${hubUrl}/hub/login`, {
    method: 'POST',
    body: form,
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
  assert.equal(login.status, 302, `login failed (${login.status}):\n${hubLog}`);
  assert.ok(browser.names().some((n) => n.startsWith('jupyterhub-hub-login')), `no login cookie: ${browser.names()}`);

  // A user's API token, requested with the login cookie like the hub's token page does.
  const tokenRes = await browser.fetch(`${hubUrl}/hub/api/users/${USER}/tokens`, {
    method: 'POST',
    body: JSON.stringify({ note: 'hpcdl test', expires_in: 600 }),
    headers: { 'Content-Type': 'application/json', Referer: `${hubUrl}/hub/token` },
  });
  assert.equal(tokenRes.status, 201, `token request failed (${tokenRes.status}): ${await tokenRes.clone().text()}`);
  const token = ((await tokenRes.json()) as { token: string }).token;
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`${hubUrl}/hub/api${p}`, { ...init, headers: { Authorization: `token ${token}`, ...(init.headers ?? {}) }, signal: AbortSignal.timeout(30_000) });

  const spawnRes = await api(`/users/${USER}/server`, { method: 'POST' });
  assert.ok([201, 202].includes(spawnRes.status), `spawn failed (${spawnRes.status}): ${await spawnRes.text()}\n${hubLog}`);
  const deadline = Date.now() + 150_000;
  for (;;) {
    const user = (await (await api(`/users/${USER}`)).json()) as { servers?: Record<string, { ready: boolean }> };
    if (user.servers?.['']?.ready) break;
    assert.ok(Date.now() < deadline, `single-user server not ready:\n${hubLog}`);
    await sleep(500);
  }

  // Through the hub's proxy, as JupyterLab would talk to the single-user server.
  const userUrl = `${hubUrl}/user/${USER}/`;
  const server: JupyterServer = {
    url: userUrl, token, rootDir: '', pid: 0, settings: makeSettings(userUrl, token), log: () => hubLog, stop: async () => {},
  };
  const session = await KernelSession.start(server, kernel.name, 90_000);
  try {
    const info = await session.kernel.info;
    assert.equal(info.implementation, 'hpcdl-tslab');
    const run = await session.execute('import * as tf from "@tensorflow/tfjs-core";\nconst answer: number = 6 * 7;\n`${answer} ${typeof tf.tensor}`');
    assert.equal(run.reply.status, 'ok', JSON.stringify(run.outputs));
    assert.equal((run.outputs[0] as { data: Record<string, unknown> }).data['text/plain'], "'42 function'");
  } finally {
    await session.shutdown();
  }
  const stop = await api(`/users/${USER}/server`, { method: 'DELETE' });
  assert.ok([202, 204].includes(stop.status), `stopping the server failed: ${stop.status}`);
});
