/**
 * Settings for talking to a Jupyter server from Node with @jupyterlab/services
 * (the `ws` WebSocket, Node's fetch, the token appended to every request).
 * Used by the display-latency benchmark and the tests that drive a real
 * jupyter-server.
 */
import { ServerConnection } from '@jupyterlab/services';
import WebSocket from 'ws';

/** `baseUrl` like `http://127.0.0.1:8888/` (with the trailing slash). */
export function jupyterServerSettings(baseUrl: string, token: string): ServerConnection.ISettings {
  return ServerConnection.makeSettings({
    baseUrl,
    wsUrl: baseUrl.replace(/^http/, 'ws'),
    token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    fetch: globalThis.fetch.bind(globalThis),
    Request: globalThis.Request,
    Headers: globalThis.Headers,
    init: { cache: 'no-store' } as RequestInit,
  });
}
