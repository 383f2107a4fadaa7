/**
 * The dashboard link a client shows: the controller's `dashboard_url`, and
 * under JupyterHub (JUPYTERHUB_SERVICE_PREFIX set, the controller on the
 * notebook's host) the same page through jupyter-server-proxy, which is the
 * one a browser outside the cluster can open. `cluster.dashboard()` shows it
 * with an inline summary (engines, tasks by state) in the notebook.
 */
import { currentDisplayChannel } from '../../src/notebook-hooks/display-channel';
import { MIME_BUNDLE } from '../../src/notebook-hooks/mime-bundle';

/** The link through JupyterHub's proxy, when the notebook runs under JupyterHub and the controller listens on this host. */
export function proxiedDashboardUrl(dashboardUrl: string, env: NodeJS.ProcessEnv = process.env): string | null {
  const prefix = env.JUPYTERHUB_SERVICE_PREFIX;
  if (!prefix) return null;
  const u = new URL(dashboardUrl);
  return `${prefix.replace(/\/?$/, '/')}proxy/${u.port}/${u.search}`;
}

/** The line the client prints when it starts a cluster. */
export function dashboardLine(clusterId: string, dashboardUrl: string): string {
  const proxied = proxiedDashboardUrl(dashboardUrl);
  return `hpcdl: cluster ${clusterId} dashboard: ${dashboardUrl}${proxied ? ` (through JupyterHub: ${proxied})` : ''}`;
}

const esc = (s: unknown) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

export class DashboardLink {
  readonly proxiedUrl: string | null;

  constructor(
    readonly clusterId: string,
    readonly url: string,
    readonly status: Record<string, unknown>,
  ) {
    this.proxiedUrl = proxiedDashboardUrl(url);
  }

  private counts(): { engines: Record<string, number>; tasks: Record<string, number> } {
    return { engines: (this.status.engines ?? {}) as Record<string, number>, tasks: (this.status.tasks ?? {}) as Record<string, number> };
  }

  toString(): string {
    const { engines, tasks } = this.counts();
    const states = ['queued', 'running', 'done', 'error', 'cancelled'].map((s) => `${tasks[s] ?? 0} ${s}`).join(', ');
    return `${dashboardLine(this.clusterId, this.url)}\n  engines: ${engines.alive ?? 0} alive, ${engines.dead ?? 0} dead; tasks: ${states}`;
  }

  html(): string {
    const { engines, tasks } = this.counts();
    const href = this.proxiedUrl ?? this.url;
    const cells = ['queued', 'running', 'done', 'error', 'cancelled'].map((s) => `<td>${esc(tasks[s] ?? 0)} ${s}</td>`).join('');
    return (
      `<div class="hpcdl-dashboard-link"><a href="${esc(href)}" target="_blank" rel="noopener noreferrer">hpcdl dashboard of cluster ${esc(this.clusterId)}</a>` +
      `<table><tr><td>${esc(engines.alive ?? 0)} engines alive</td><td>${esc(engines.dead ?? 0)} dead</td>${cells}</tr></table></div>`
    );
  }

  [MIME_BUNDLE](): Record<string, string> {
    return { 'text/html': this.html(), 'text/plain': this.toString() };
  }

  /** Show in the notebook (display channel), else print with `log`. */
  show(log: (line: string) => void): void {
    const channel = currentDisplayChannel();
    if (channel) channel.publish({ data: this[MIME_BUNDLE](), metadata: {} }, false);
    else log(this.toString());
  }
}
