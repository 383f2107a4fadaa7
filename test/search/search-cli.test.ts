/**
 * `hpcdl search` end to end: a tiny HEP config on tiny synthetic data, 2 local
 * engines, the terminal table, trials.csv, the journal, and the HTML report
 * (self-contained: plotly inlined, trial table, curves, histogram, parallel
 * coordinates, the best trial's test ROC); then --resume of the finished study
 * runs nothing again; bad flags name themselves.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { synthesize } from '../../src';
import { hpcdl, writeTinyConfig } from '../cli/support';
import { tempDirMaker } from '../support/tmp';

const tempDir = tempDirMaker('hpcdl-searchcli-');
let work: string;
let data: string;
let config: string;
let space: string;

before(async () => {
  work = tempDir();
  data = path.join(work, 'data');
  await synthesize({ outDir: data, size: 64, events: 500, seed: 3, log: () => undefined });
  config = writeTinyConfig(work);
  space = path.join(work, 'space.json');
  fs.writeFileSync(space, JSON.stringify({ learning_rate: { type: 'float', low: 1e-3, high: 1e-2, log: true }, num_filters: { type: 'int', low: 2, high: 6 } }));
});

test('hpcdl search runs a study on 2 engines and writes the CSV, the journal and the HTML report', { timeout: 300_000 }, async () => {
  const out = path.join(work, 'study');
  const r = await hpcdl(['search', '--config', config, '--data', data, '--space', space, '--algorithm', 'random', '--trials', '3', '--engines', '2', '--epochs', '2', '--seed', '4', '--out', out, '--evaluate'], { timeoutMs: 240_000 });
  assert.equal(r.code, 0, `exit 0:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /search: random, 3 trials, pruner none on 2 engine\(s\)/);
  const trialLines = r.stdout.split('\n').filter((l) => /^\s+\d+\s+(complete|failed_to_converge|failed|pruned)\s/.test(l));
  assert.equal(trialLines.length, 3, `one line per finished trial:\n${r.stdout}`);
  assert.match(r.stdout, /\[3\/3 finished, 0 running/);
  assert.match(r.stdout, /best trial \d+ on the test split: AUC [\d.]+/);
  const csv = fs.readFileSync(path.join(out, 'trials.csv'), 'utf8').trim().split('\n');
  assert.equal(csv.length, 4);
  assert.match(csv[0], /^id,state,value,.*learning_rate,num_filters/);
  assert.ok(fs.statSync(path.join(out, 'journal.jsonl')).size > 0);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.ok(html.length > 1_000_000, 'plotly.js is inlined (no CDN)');
  assert.doesNotMatch(html, /<script[^>]+src=/, 'no external scripts');
  assert.match(html, /<table>/);
  assert.equal((html.match(/<tr><td>\d+<\/td>/g) ?? []).length, 3, 'a table row per trial');
  const figures = JSON.parse(/const figures = (.*);\n/.exec(html)![1]) as { data: { type: string }[]; layout: { title: { text: string } } }[];
  const titles = figures.map((f) => f.layout.title.text);
  assert.ok(titles.some((t) => /best and worst/.test(t)), titles.join(' | '));
  assert.ok(figures.some((f) => f.data.some((d) => d.type === 'histogram')), 'score histogram');
  assert.ok(figures.some((f) => f.data.some((d) => d.type === 'parcoords')), 'parallel coordinates');
  assert.ok(titles.some((t) => /ROC on the test split/.test(t)), 'the best trial\'s test ROC');

  // resuming the finished study proposes nothing new
  const again = await hpcdl(['search', '--config', config, '--data', data, '--space', space, '--engines', '1', '--resume', path.join(out, 'journal.jsonl')], { timeoutMs: 120_000 });
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.split('\n').filter((l) => /^\s+\d+\s+complete\s/.test(l)).length, 0, 'no trial ran again');
  assert.match(again.stdout, /\[3\/3 finished/);
});

test('hpcdl search: bad flags and files are named', async () => {
  const noSpace = await hpcdl(['search', '--config', config]);
  assert.equal(noSpace.code, 2);
  assert.match(noSpace.stderr, /--space is required/);
  const both = await hpcdl(['search', '--config', config, '--objective', 'x.ts#f', '--space', space]);
  assert.match(both.stderr, /exactly one of --config .* and --objective/);
  const badAlgo = await hpcdl(['search', '--config', config, '--space', space, '--algorithm', 'annealing']);
  assert.match(badAlgo.stderr, /--algorithm must be one of random\|grid\|gp\|tpe\|genetic, got "annealing"/);
  const missing = await hpcdl(['search', '--config', config, '--space', path.join(work, 'nope.json')]);
  assert.match(missing.stderr, /--space .*nope\.json cannot be read/);
  const help = await hpcdl(['search', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: hpcdl search/);
});
