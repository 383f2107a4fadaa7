/**
 * Trust in connection files and profile directories (in the manner of ssh's
 * StrictModes): a file another user owns or could write, or one in a
 * directory others could write, is refused by the real `hpcdl engine`, the
 * client and `hpcdl controller`, with one line naming the file and the fix.
 * Log files the cluster writes are private (0600).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Cluster } from '../../cluster';
import { generateKey, readConnectionFile, writeConnectionFile, type ConnectionInfo } from '../../cluster/protocol';
import { tempDir } from './support/controller-harness';
import { hpcdl, removeDir } from './support/processes';

const isRoot = process.getuid?.() === 0;
/** the conventional `nobody` */
const OTHER_UID = 65534;

function info(): ConnectionInfo {
  return {
    url: 'ws://127.0.0.1:9',
    cluster_id: 'trust',
    key: generateKey(),
    signature_scheme: 'hmac-sha256',
    protocol_version: '1.0',
    pid: 1,
    dashboard_url: 'http://127.0.0.1:9/',
    created: new Date().toISOString(),
  };
}

async function engineRefuses(file: string, why: RegExp): Promise<void> {
  const proc = hpcdl(['engine', '--connect', file]);
  const code = await Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30000))]);
  if (code === 'still running') await proc.kill('SIGKILL');
  assert.notEqual(code, 0, `the engine exits non-zero:\n${proc.output()}`);
  assert.notEqual(code, 'still running', 'the engine stops instead of connecting');
  const lines = proc.output().trim().split('\n');
  assert.equal(lines.length, 1, `one line:\n${proc.output()}`);
  assert.match(lines[0], new RegExp(`refusing connection file ${file.replace(/[.]/g, '\\.')}: .*${why.source}`));
}

test('a connection file owned by another user is refused by the engine and the client', { skip: !isRoot && 'needs root to give a file to another user' }, async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'foreign.json');
    writeConnectionFile(file, info());
    fs.chownSync(file, OTHER_UID, OTHER_UID);
    await engineRefuses(file, new RegExp(`belongs to uid ${OTHER_UID}, not to this user`));
    await assert.rejects(Cluster.connect(file, { handleSigint: false, log: () => undefined }), /refusing connection file .*belongs to uid 65534/);
  } finally {
    removeDir(dir);
  }
});

test('a group-writable connection file, or one in a directory every user can write, is refused; a sticky /tmp-like directory is fine', async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'group-writable.json');
    writeConnectionFile(file, info());
    fs.chmodSync(file, 0o620);
    await engineRefuses(file, /is writable by its group \(mode 0620\); chmod go-w/);

    const open = path.join(dir, 'open');
    fs.mkdirSync(open);
    fs.chmodSync(open, 0o777);
    const inOpen = path.join(open, 'c.json');
    fs.writeFileSync(inOpen, JSON.stringify(info()), { mode: 0o600 });
    await engineRefuses(inOpen, new RegExp(`${open.replace(/[.]/g, '\\.')} is writable by every user \\(mode 0777\\)`));

    fs.chmodSync(open, 0o1777);
    assert.equal(readConnectionFile(inOpen).cluster_id, 'trust', 'a sticky directory: nobody can replace another user\'s file in it');
  } finally {
    removeDir(dir);
  }
});

test('hpcdl controller refuses a profile directory every user can write', async () => {
  const dir = tempDir();
  try {
    fs.mkdirSync(path.join(dir, 'clusters'), { mode: 0o700 });
    fs.chmodSync(path.join(dir, 'clusters'), 0o777);
    const proc = hpcdl(['controller', '--profile-dir', dir, '--cluster-id', 'open']);
    const code = await Promise.race([proc.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 30000))]);
    if (code === 'still running') await proc.kill('SIGKILL');
    assert.equal(code, 1, proc.output());
    assert.match(proc.output(), /refusing profile directory .*clusters: .*is writable by every user \(mode 0777\); chmod go-w/);
    assert.equal(fs.existsSync(path.join(dir, 'clusters', 'open.json')), false, 'no connection file written there');
  } finally {
    removeDir(dir);
  }
});

test('the controller and engine log files of a started cluster are private (0600)', async () => {
  const dir = tempDir();
  const cluster = await Cluster.start({ engines: 1, profileDir: dir, clusterId: 'logs', handleSigint: false, log: () => undefined });
  try {
    await cluster.waitForEngines(1, 30000);
    const work = path.join(dir, 'clusters', 'logs');
    for (const name of ['controller.log', 'engine-0.log']) {
      const file = path.join(work, name);
      assert.ok(fs.existsSync(file), `${name} exists`);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600, `${name} is 0600`);
    }
  } finally {
    await cluster.close();
    removeDir(dir);
  }
});
