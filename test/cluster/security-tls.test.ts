/**
 * TLS on the protocol port: `hpcdl controller --tls` (the default off
 * loopback) serves wss:// with a certificate it made at start and pinned in
 * the connection file; a real engine and the real client connect through it,
 * what crosses the wire is not readable, a client given another pin refuses
 * the controller, and a resumed controller serves the same certificate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { readConnectionFile, writeConnectionFile } from '../../cluster/protocol';
import { tlsByDefault } from '../../cluster/controller/certificate';
import { tempDir } from './support/controller-harness';
import { removeDir, startController, startEngine, waitFor, type Proc } from './support/processes';
import { recordingProxy } from './support/wire-attacks';

test('TLS is on by default for any bind address but loopback', () => {
  for (const bind of ['0.0.0.0', '10.1.2.3', '192.168.0.7']) assert.equal(tlsByDefault(bind), true, bind);
  for (const bind of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) assert.equal(tlsByDefault(bind), false, bind);
});

test('wss:// with a pinned certificate: a real engine and client work, the wire is unreadable, another pin is refused, --resume keeps the certificate', async () => {
  const dir = tempDir();
  const procs: Proc[] = [];
  const clusters: Cluster[] = [];
  const proxy = { close: () => undefined } as { close(): void };
  try {
    const { proc, file } = await startController(dir, 'tls', ['--tls']);
    procs.push(proc);
    const info = readConnectionFile(file);
    assert.match(info.url, /^wss:\/\/127\.0\.0\.1:\d+$/);
    assert.match(info.tls_fingerprint ?? '', /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    procs.push(startEngine(file));

    const through = await recordingProxy(Number(new URL(info.url).port), { frames: false });
    proxy.close = through.close;
    const viaProxy = path.join(dir, 'via-proxy.json');
    writeConnectionFile(viaProxy, { ...info, url: `wss://127.0.0.1:${through.port}` });
    const cluster = await Cluster.connect(viaProxy, { handleSigint: false, log: () => undefined, output: 'drop' as never });
    clusters.push(cluster);
    await cluster.waitForEngines(1, 30000);
    const values = await cluster.balanced().map((s: string) => `${s}-seen`, ['secret-argument-1', 'secret-argument-2']);
    assert.deepEqual(values, ['secret-argument-1-seen', 'secret-argument-2-seen']);
    const captured = Buffer.concat(through.connections.flatMap((c) => c.stream));
    assert.ok(captured.length > 1000, 'the client\'s traffic went through the proxy');
    for (const plain of ['secret-argument', 'connect_request', 'submit_request', 'HPDL']) assert.equal(captured.includes(plain), false, `"${plain}" is not readable on the wire`);

    const otherPin = path.join(dir, 'other-pin.json');
    writeConnectionFile(otherPin, { ...info, tls_fingerprint: info.tls_fingerprint!.replace(/^../, info.tls_fingerprint!.startsWith('00') ? '11' : '00') });
    const t0 = Date.now();
    await assert.rejects(Cluster.connect(otherPin, { handleSigint: false, log: () => undefined }), /its TLS certificate \(sha256 [0-9A-F:]+\) is not the one pinned in the connection file/);
    assert.ok(Date.now() - t0 < 10000, 'refused at once, not retried until the connect timeout');

    await proc.kill('SIGTERM');
    const resumed = await startController(dir, 'tls', ['--resume']);
    procs.push(resumed.proc);
    assert.equal(readConnectionFile(resumed.file).tls_fingerprint, info.tls_fingerprint, 'the resumed controller serves the pinned certificate');
    await waitFor(() => /engine 0 .*reconnected|engine 0 registered/.test(resumed.proc.output()), 30000, 'the engine to come back over TLS', resumed.proc.output);
  } finally {
    for (const c of clusters) await c.close().catch(() => undefined);
    proxy.close();
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    removeDir(dir);
  }
});
