/**
 * Connection files: how engines and clients find and authenticate to a
 * controller.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PROTOCOL_VERSION } from './envelope';
import { checkTrusted, trustedDirectory } from './file-trust';

/** `<profile>/clusters/<cluster_id>.json`, mode 0600, written by the controller. */
export interface ConnectionInfo {
  /** ws://host:port the engines and clients connect to */
  url: string;
  cluster_id: string;
  /** per-cluster HMAC-SHA256 key (hex string; the UTF-8 bytes of this string are the key) */
  key: string;
  signature_scheme: 'hmac-sha256';
  protocol_version: string;
  /** controller process id */
  pid: number;
  /** http://host:port/ dashboard and REST API (same server as the WebSocket) */
  dashboard_url: string;
  created: string;
  /** with a wss:// url: the controller's self-signed certificate (PEM), the only one engines and clients accept */
  tls_cert?: string;
  /** its SHA-256 fingerprint ("AB:CD:…"), checked on every connection */
  tls_fingerprint?: string;
  /** its private key (PEM): a controller resumed with --resume serves the same certificate */
  tls_key?: string;
}

/** The hpcdl profile directory: explicit dir, else $HPCDL_HOME, else ~/.hpcdl. */
export function hpcdlHome(profileDir?: string): string {
  return path.resolve(profileDir ?? process.env.HPCDL_HOME ?? path.join(os.homedir(), '.hpcdl'));
}

export function connectionFilePath(clusterId: string, profileDir?: string): string {
  return path.join(hpcdlHome(profileDir), 'clusters', `${clusterId}.json`);
}

/** A path (anything with a slash or ending in .json, or an existing file) or a cluster id. */
export function resolveConnectionFile(fileOrId: string, profileDir?: string): string {
  if (fileOrId.includes('/') || fileOrId.endsWith('.json') || fs.existsSync(fileOrId)) return path.resolve(fileOrId);
  return connectionFilePath(fileOrId, profileDir);
}

/** Read and check a connection file; errors name the file and the field at fault. */
export function readConnectionFile(fileOrId: string, profileDir?: string): ConnectionInfo {
  const file = resolveConnectionFile(fileOrId, profileDir);
  let text: string;
  try {
    checkTrusted(file, 'connection file');
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`connection file ${file} does not exist (is the controller running? start one with \`hpcdl controller\`)`);
    if (code === undefined) throw err;
    throw new Error(`cannot read connection file ${file}: ${(err as Error).message}`);
  }
  let raw: any;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`connection file ${file} is not valid JSON: ${(err as Error).message}`);
  }
  for (const field of ['url', 'cluster_id', 'key'] as const) {
    if (typeof raw?.[field] !== 'string' || raw[field] === '') throw new Error(`connection file ${file}: ${field} is missing or not a string`);
  }
  if (!/^wss?:\/\//.test(raw.url)) throw new Error(`connection file ${file}: url must start with ws:// or wss://, got ${JSON.stringify(raw.url)}`);
  const tls: Partial<ConnectionInfo> = {};
  if (raw.url.startsWith('wss://')) {
    for (const field of ['tls_cert', 'tls_fingerprint'] as const) {
      if (typeof raw[field] !== 'string' || raw[field] === '') throw new Error(`connection file ${file}: ${field} is missing (a wss:// url needs the pinned certificate)`);
      tls[field] = raw[field];
    }
    if (typeof raw.tls_key === 'string') tls.tls_key = raw.tls_key;
  }
  return {
    url: raw.url,
    cluster_id: raw.cluster_id,
    key: raw.key,
    signature_scheme: 'hmac-sha256',
    protocol_version: String(raw.protocol_version ?? PROTOCOL_VERSION),
    pid: Number(raw.pid ?? 0),
    dashboard_url: String(raw.dashboard_url ?? raw.url.replace(/^ws/, 'http')),
    created: String(raw.created ?? ''),
    ...tls,
  };
}

/** Write a connection file atomically with mode 0600 (directory 0700; an existing directory another user could write is refused). */
export function writeConnectionFile(file: string, info: ConnectionInfo): void {
  trustedDirectory(path.dirname(file), 'connection file directory');
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(info, null, 2) + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
