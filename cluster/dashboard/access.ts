/**
 * Who may see the dashboard and use its controls. Every request needs the
 * cluster's dashboard token, as `?token=…` or an `Authorization: token …` /
 * `Bearer …` header; a refusal is a bare 403 that says nothing about the
 * cluster. Controls are POST and must come from the page itself: a browser
 * sends Origin on a POST, and it must name the host the request came to (the
 * proxy's host when behind one); a POST without Origin (curl, a script) must
 * carry the token in the Authorization header, which a cross-site form
 * cannot set.
 */
import type * as http from 'node:http';
import { timingSafeEqual } from 'node:crypto';

export const FORBIDDEN_BODY = '{"error":"forbidden"}';

function headerToken(req: http.IncomingMessage): string {
  const m = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m ? m[1] : '';
}

export function requestToken(req: http.IncomingMessage, url: URL): string {
  return url.searchParams.get('token') || headerToken(req);
}

export function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** For a control (POST): null when the request may act, else why not (for the 403 log line, never the body). */
export function controlRefusal(req: http.IncomingMessage, token: string): string | null {
  const origin = req.headers.origin;
  if (origin === undefined) return sameToken(headerToken(req), token) ? null : 'POST without Origin needs the token in the Authorization header';
  let originHost: string;
  try {
    originHost = new URL(origin).host;
  } catch {
    return `unparsable Origin ${JSON.stringify(origin)}`;
  }
  const hosts = [req.headers.host, ...String(req.headers['x-forwarded-host'] ?? '').split(',')].map((h) => h?.trim()).filter(Boolean);
  return hosts.includes(originHost) ? null : `Origin ${origin} is not this dashboard's host`;
}

export function refuse(res: http.ServerResponse): void {
  res.writeHead(403, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  res.end(FORBIDDEN_BODY);
}
