/**
 * The shared peer connection (cluster/transport/peer.ts) over real loopback
 * WebSockets: both ends (dialled and accepted), big binary payloads, a bad
 * key, a silent other side, and an unreachable one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocketServer, type WebSocket } from 'ws';
import { Peer, type PeerClose } from '../../cluster/transport/peer';
import type { MessageSocket } from '../../cluster/transport/socket';
import { CLOSE_CODES, encodeChallenge, encodeMessage, generateKey, isMessageOf, makeMessage, newNonce, type Message } from '../../cluster/protocol';

async function listen(): Promise<{ server: WebSocketServer; url: string; accepted: Promise<WebSocket> }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const accepted = new Promise<WebSocket>((resolve) => server.once('connection', (ws) => resolve(ws)));
  const port = (server.address() as { port: number }).port;
  return { server, url: `ws://127.0.0.1:${port}`, accepted };
}

function until(pred: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (pred()) return resolve();
      if (Date.now() - t0 > timeoutMs) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

test('a dialled and an accepted peer exchange batched messages and a 4 MiB buffer intact', async () => {
  const key = generateKey();
  const { server, url, accepted } = await listen();
  const atServer: Message[] = [];
  const atClient: Message[] = [];
  const client = new Peer({ key, name: `test server at ${url}`, url }, { onMessages: (m) => atClient.push(...m) });
  client.start();
  const serverPeer = new Peer({ key, name: 'test client', socket: (await accepted) as unknown as MessageSocket }, { onMessages: (m) => atServer.push(...m) });
  serverPeer.start();
  await until(() => client.isOpen, 'the client to open');
  for (let i = 0; i < 10; i++) assert.equal(client.push(makeMessage('task_started', { task_id: `t${i}` })), true);
  const big = new Uint8Array(4 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4093) big[i] = i % 251;
  client.push(makeMessage('task_result', { task_id: 'big', status: 'ok', value: { $v: { $buf: 0 }, $b: [0] } }, { buffers: [big] }));
  await until(() => atServer.length === 11, 'eleven messages at the server');
  assert.deepEqual(
    atServer.slice(0, 10).map((m) => (isMessageOf(m, 'task_started') ? m.content.task_id : null)),
    Array.from({ length: 10 }, (_, i) => `t${i}`),
  );
  const last = atServer[10];
  assert.ok(isMessageOf(last, 'task_result'));
  assert.equal(last.content.task_id, 'big');
  assert.deepEqual(Buffer.from(last.buffers[0]), Buffer.from(big));
  serverPeer.push(makeMessage('heartbeat_reply', {}));
  await until(() => atClient.length === 1, 'the reply at the client');
  client.close();
  await until(() => serverPeer.isClosed, 'the accepted peer to close with its socket');
  server.close();
});

test('a dialer with another key is refused at the handshake; a frame signed with the cluster key instead of the connection key is dropped', async () => {
  const { server, url, accepted } = await listen();
  const logs: string[] = [];
  const got: Message[] = [];
  const key = generateKey();
  const closes: PeerClose[] = [];
  const client = new Peer({ key, name: `test server at ${url}`, url, log: (l) => logs.push(l), logPrefix: () => '[test]' }, { onMessages: (m) => got.push(...m), onClose: (c) => closes.push(c) });
  client.start();
  const ws = await accepted;
  const serverLogs: string[] = [];
  const liar = new Peer({ key: generateKey(), name: 'liar', socket: ws as unknown as MessageSocket, log: (l) => serverLogs.push(l) }, { onMessages: () => undefined });
  liar.start();
  await until(() => closes.length === 1, 'the refusal');
  assert.equal(closes[0].code, CLOSE_CODES.authError);
  assert.equal(closes[0].refused, true);
  assert.match(serverLogs.join('\n'), /handshake failed: message signature does not match/);
  assert.equal(got.length, 0);
  server.close();

  const second = await listen();
  const good = new Peer({ key, name: `test server at ${second.url}`, url: second.url, log: (l) => logs.push(l), logPrefix: () => '[test]' }, { onMessages: (m) => got.push(...m) });
  good.start();
  const serverPeer = new Peer({ key, name: 'test client', socket: (await second.accepted) as unknown as MessageSocket }, { onMessages: () => undefined });
  serverPeer.start();
  await until(() => good.isOpen && serverPeer.isOpen, 'both ends authenticated');
  serverPeer.sendRaw(encodeMessage(makeMessage('heartbeat_reply', {}), key));
  await until(() => logs.length === 1, 'the drop to be logged');
  assert.match(logs[0], /^\[test\] dropped a message from test server at ws:\/\/127\.0\.0\.1:\d+: .*signature/);
  serverPeer.push(makeMessage('heartbeat_reply', {}));
  await until(() => got.length === 1, 'the next properly signed frame to arrive (the dropped one used up no sequence number)');
  assert.equal(good.isOpen, true);
  good.close();
  second.server.close();
});

test('heartbeat: a silent other side is noticed, the socket dropped and re-dialled', async () => {
  const key = generateKey();
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  let connections = 0;
  server.on('connection', (ws) => {
    connections += 1;
    ws.send(encodeChallenge(newNonce())); // challenges, then never answers
  });
  const url = `ws://127.0.0.1:${(server.address() as { port: number }).port}`;
  const silences: number[] = [];
  const opens: boolean[] = [];
  const client: Peer = new Peer(
    { key, name: `silent server at ${url}`, url, reconnect: { giveUpAfterMs: 10_000, initialDelayMs: 20 } },
    {
      onMessages: () => undefined,
      onOpen: (again) => {
        opens.push(again);
        if (!again) client.startHeartbeat({ intervalMs: 50, silentMs: 200, beat: () => makeMessage('heartbeat', { running: 0 }), onSilent: (ms) => silences.push(ms) });
      },
    },
  );
  client.start();
  await until(() => opens.length >= 2, 'a re-dial after the silence');
  assert.equal(silences.length, 1);
  assert.ok(silences[0] > 200, `silent for ${silences[0]} ms before it was noticed`);
  assert.deepEqual(opens.slice(0, 2), [false, true]);
  assert.ok(connections >= 2);
  client.close();
  server.close();
});

test('an unreachable address: retries with backoff, then gives up naming it', async () => {
  const retries: { why: string; delayMs: number }[] = [];
  let gaveUp: { why: string; waitedMs: number } | null = null;
  const url = 'ws://127.0.0.1:9';
  const peer = new Peer(
    { key: generateKey(), name: `nobody at ${url}`, url, reconnect: { giveUpAfterMs: 300, initialDelayMs: 20, maxDelayMs: 80 } },
    { onMessages: () => undefined, onRetry: (why, delayMs) => retries.push({ why, delayMs }), onGiveUp: (why, waitedMs) => (gaveUp = { why, waitedMs }) },
  );
  peer.start();
  await until(() => gaveUp !== null, 'giving up', 10_000);
  assert.ok(retries.length >= 2);
  assert.deepEqual(retries.slice(0, 3).map((r) => r.delayMs), [20, 40, 80].slice(0, Math.min(3, retries.length)));
  assert.match(retries[0].why, /^cannot reach nobody at ws:\/\/127\.0\.0\.1:9 \(.*ECONNREFUSED/);
  assert.ok(gaveUp!.waitedMs >= 300);
  assert.equal(peer.isClosed, true);
});
