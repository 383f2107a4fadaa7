/**
 * Resume after the driver process dies: a study runs in a child process
 * (2 real engines), which is SIGKILLed after a few trials finished; a new
 * process resumes from the journal. No trial the journal had finished runs
 * again, the in-flight ones are re-queued, and the study ends with exactly
 * the requested number of complete trials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTsx } from '../support/run';
import { tempDirMaker } from '../support/tmp';

const DRIVER = path.join(__dirname, 'support', 'resume-driver.ts');
const tempDir = tempDirMaker('hpcdl-resume-');
const TRIALS = 8;

/** Trial ids the journal records as complete (tell lines of complete trials). */
function journalComplete(file: string): number[] {
  if (!fs.existsSync(file)) return [];
  const ids: number[] = [];
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    let rec: { type?: string; id?: number; state?: string };
    try {
      rec = JSON.parse(line);
    } catch {
      continue; // a torn last line after the kill
    }
    if (rec.type === 'tell' && rec.state === 'complete') ids.push(rec.id!);
  }
  return ids;
}

function starts(dir: string, since = 0): number[] {
  const file = path.join(dir, 'events.log');
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => l.split(' ')).filter((f) => f[0] === 'start' && Number(f[3]) >= since).map((f) => Number(f[1]));
}

test('a study resumes after its driver process is killed: finished trials are not repeated, the count is right', { timeout: 240_000 }, async () => {
  const home = tempDir();
  const journal = path.join(home, 'study.jsonl');
  const studyDir = path.join(home, 'study');
  const env = { ...process.env, HPCDL_HOME: path.join(home, 'hpcdl-home') };

  const first = spawn(process.execPath, ['--import', 'tsx', DRIVER, journal, String(TRIALS)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let firstOut = '';
  first.stdout.on('data', (d) => (firstOut += d));
  first.stderr.on('data', (d) => (firstOut += d));
  const exited = new Promise<number | null>((resolve) => first.on('exit', (code) => resolve(code)));
  // wait until three trials are complete in the journal, and some are in flight
  const deadline = Date.now() + 120_000;
  while (journalComplete(journal).length < 3 && Date.now() < deadline && first.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  assert.ok(journalComplete(journal).length >= 3, `three trials finished before the kill:\n${firstOut}`);
  first.kill('SIGKILL');
  await exited;
  const doneBefore = journalComplete(journal);
  assert.ok(doneBefore.length < TRIALS, `the kill came mid-study (${doneBefore.length} of ${TRIALS} complete)`);
  // engines of the killed driver stop within a second or so; their late log lines predate the resume
  await new Promise((r) => setTimeout(r, 2000));

  const resumedAt = Date.now();
  const second = await runTsx(DRIVER, [journal, String(TRIALS)], { env, timeoutMs: 180_000 });
  assert.equal(second.code, 0, `resumed driver exits 0:\n${second.stdout}\n${second.stderr}`);
  const result = JSON.parse(/RESULT (.*)/.exec(second.stdout)![1]) as { id: number; state: string }[];
  assert.equal(result.length, TRIALS, 'exactly the requested number of trials');
  assert.deepEqual(result.map((t) => t.state), Array(TRIALS).fill('complete'));
  assert.deepEqual(result.map((t) => t.id), [...Array(TRIALS).keys()]);

  const rerun = starts(studyDir, resumedAt);
  for (const id of doneBefore) assert.ok(!rerun.includes(id), `trial ${id} finished before the kill and did not run again (second run started ${rerun.join(',')})`);
  assert.equal(new Set(rerun).size, rerun.length, 'each remaining trial ran once in the resumed study');
  assert.deepEqual([...new Set([...doneBefore, ...rerun])].sort((a, b) => a - b), [...Array(TRIALS).keys()], 'finished before + run after = every trial');
  assert.deepEqual(journalComplete(journal).sort((a, b) => a - b), [...Array(TRIALS).keys()], 'the journal has each trial complete once');
});
