/**
 * package.json `engines` names the Node LTS lines hpcdl supports, and every
 * package the lock file installs accepts the oldest release of each line, so
 * `npm ci` prints no EBADENGINE warning on any of them (issue 16: commander@15,
 * via configurable-http-proxy, wanted Node >= 22.12; package.json `overrides`
 * pins the commander 14 it works with).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import semver from 'semver';

const ROOT = path.resolve(__dirname, '..', '..');
const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
const lock = JSON.parse(fs.readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { version?: string; engines?: { node?: string } | string[]; optional?: boolean }>;
};

/** The first release of each line `engines.node` admits, e.g. 20.19.0, 22.12.0, 24.0.0. */
function oldestOfEachLine(range: string): string[] {
  return range.split('||').map((part) => semver.minVersion(part.trim())!.version);
}

test('engines names the supported LTS lines, and this Node is one of them', () => {
  const lines = oldestOfEachLine(pkg.engines.node).map((v) => semver.major(v));
  for (const lts of [20, 22, 24]) assert.ok(lines.includes(lts), `engines.node (${pkg.engines.node}) names Node ${lts}`);
  assert.ok(semver.satisfies(process.version, pkg.engines.node), `${process.version} is not in engines.node ${pkg.engines.node}`);
});

test('every locked package accepts the oldest release of each supported line (npm ci stays quiet)', () => {
  const oldest = oldestOfEachLine(pkg.engines.node);
  const refused: string[] = [];
  for (const [where, entry] of Object.entries(lock.packages)) {
    const wanted = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
    if (!where || !wanted) continue;
    for (const node of oldest) {
      if (!semver.satisfies(node, wanted)) refused.push(`${where}@${entry.version} wants node ${wanted}, not ${node}`);
    }
  }
  assert.deepEqual(refused, []);
});
