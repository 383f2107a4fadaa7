/** The in-process socket pair between a client and the controller it runs in its own process. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inProcessPair } from '../../cluster/transport/in-process';
import { SOCKET_STATE } from '../../cluster/transport/socket';

const tick = () => new Promise((r) => setImmediate(r));

test('frames arrive in order, after the sender returns, never inside send()', async () => {
  const { client, server } = inProcessPair();
  const got: string[] = [];
  let sending = false;
  server.on('message', (data, isBinary) => {
    assert.equal(sending, false, 'delivered inside send()');
    assert.equal(isBinary, true);
    got.push(data.toString());
  });
  sending = true;
  for (const word of ['a', 'b', 'c']) client.send(Buffer.from(word));
  client.send(new Uint8Array([100]));
  sending = false;
  assert.deepEqual(got, []);
  await tick();
  assert.deepEqual(got, ['a', 'b', 'c', 'd']);
});

test("the client end emits 'open' like a dialled WebSocket", async () => {
  const { client } = inProcessPair();
  let opened = false;
  client.on('open', () => (opened = true));
  await tick();
  assert.equal(opened, true);
  assert.equal(client.readyState, SOCKET_STATE.OPEN);
});

test('close: frames already sent are delivered first, then both ends see one close with the code and reason', async () => {
  const { client, server } = inProcessPair();
  const events: string[] = [];
  client.on('message', (d) => events.push(`client got ${d}`));
  client.on('close', (code, reason) => events.push(`client close ${code} ${reason}`));
  server.on('close', (code, reason) => events.push(`server close ${code} ${reason}`));
  server.send(Buffer.from('last words'));
  server.close(4001, 'bad key');
  server.close(1000, 'again');
  assert.throws(() => server.send(Buffer.from('late')), /not open/);
  await tick();
  assert.deepEqual(events, ['client got last words', 'server close 4001 bad key', 'client close 4001 bad key']);
  assert.equal(client.readyState, SOCKET_STATE.CLOSED);
  assert.equal(server.readyState, SOCKET_STATE.CLOSED);
});

test('terminate closes both ends with 1006 (abnormal closure)', async () => {
  const { client, server } = inProcessPair();
  const codes: number[] = [];
  client.on('close', (code) => codes.push(code));
  server.on('close', (code) => codes.push(code));
  client.terminate();
  await tick();
  assert.deepEqual(codes, [1006, 1006]);
});
