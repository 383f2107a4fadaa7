/** The study journal: a resumed study equals the uninterrupted one; torn tails and corrupt lines. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Study, StudyJournal, type AlgorithmName, type Params, type StudyOptions } from '../../src/hpo';
import { FUNCTIONS } from '../../bench/support/hpo-functions';

const H6 = FUNCTIONS[1];
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'hpcdl-journal-'));

class Crash extends Error {}

/** a deterministic learning curve whose end is the objective */
const curve = (p: Params): number[] => [3, 2, 1].map((k) => H6.f(p) + k * 0.2 * (p.x0 as number));

/**
 * A steady-state driver with 2 trials in flight: fill the free slots, then run
 * the oldest running trial to its end (reports per epoch, then tell). Its
 * every decision depends only on the study's state, as a real driver's does.
 */
function drive(study: Study): void {
  while (!study.done) {
    study.ask(2 - study.running);
    const oldest = study.trials.find((t) => t.state === 'running');
    if (!oldest) continue;
    study.assign(oldest.id, oldest.id % 2);
    const c = curve(oldest.params);
    let pruned = false;
    for (let e = 0; e < c.length && !pruned; e++) pruned = study.report(oldest.id, e + 1, c[e]) === 'prune';
    if (pruned) continue;
    // one trial in seven fails once, and is retried (the driver's rule)
    if (oldest.id % 7 === 3 && oldest.attempts === 1) {
      study.tell(oldest.id, { failed: 'engine died' });
      study.retry(oldest.id);
    } else study.tell(oldest.id, { value: c[c.length - 1] });
  }
}

/** what must survive a restart (attempts and times legitimately differ) */
const essence = (s: Study) => s.trials.map((t) => ({ id: t.id, params: t.params, state: t.state, value: t.value, reports: t.reports }));

for (const algorithm of ['gp', 'tpe', 'genetic', 'random'] as AlgorithmName[]) {
  test(`${algorithm}: a study resumed from its journal after crashes equals the uninterrupted study`, () => {
    const options: StudyOptions = { space: H6.space, algorithm, trials: 24, seed: 11, pruner: { name: 'asha', eta: 2, minResource: 1 }, algorithmOptions: { population: 6, startup: 6, initial: 6 } };
    const reference = new Study(options);
    let total = 0;
    reference.onChange(() => total++);
    drive(reference);
    assert.equal(reference.counts().complete + reference.counts().pruned, 24);
    const dir = tmp();
    for (const crashes of [[9], [Math.round(total * 0.3), Math.round(total * 0.3)], [Math.round(total * 0.8)]]) {
      const file = path.join(dir, `${algorithm}-${crashes.join('-')}.jsonl`);
      let journal = StudyJournal.open(file, options);
      for (const after of [...crashes, Infinity]) {
        let events = 0;
        journal.study.onChange(() => {
          if (++events >= after) throw new Crash();
        });
        try {
          drive(journal.study);
        } catch (e) {
          if (!(e instanceof Crash)) throw e;
        }
        journal.close();
        if (after !== Infinity) journal = StudyJournal.resume(file);
      }
      assert.deepEqual(essence(journal.study), essence(reference), `crashes after events ${crashes}`);
      assert.ok(journal.study.trials.some((t) => t.attempts > 1), `some trial ran again: ${journal.study.trials.map((t) => t.attempts)} ${crashes}`);
      // and once more from the finished journal: nothing left to do, same trials
      const again = StudyJournal.resume(file);
      assert.equal(again.study.done, true);
      assert.deepEqual(essence(again.study), essence(reference));
      again.close();
    }
  });
}

test('a torn last line is reported with file and line, cut off, and its trial runs again', () => {
  const file = path.join(tmp(), 'torn.jsonl');
  const j = StudyJournal.open(file, { space: H6.space, algorithm: 'random', trials: 4, seed: 1 });
  j.study.enqueue(Object.fromEntries(Object.keys(H6.space).map((k) => [k, 0.5])));
  const [a, b] = j.study.ask(2);
  assert.equal(a.params.x0, 0.5, 'the enqueued trial first');
  j.study.tell(a.id, { value: -1 });
  j.close();
  const good = fs.readFileSync(file, 'utf8');
  const lines = good.trimEnd().split('\n').length;
  fs.appendFileSync(file, `{"type":"tell","id":${b.id},"state":"comp`);
  const r = StudyJournal.resume(file);
  assert.equal(r.warnings.length, 1);
  assert.match(r.warnings[0], new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:${lines + 1}: torn last line ignored`));
  assert.deepEqual(r.study.trials.map((t) => t.state), ['complete', 'pending']);
  const [again] = r.study.ask(1);
  assert.equal(again.id, b.id);
  r.study.tell(again.id, { value: -2 });
  r.close();
  const clean = StudyJournal.resume(file);
  assert.deepEqual(clean.warnings, []);
  assert.deepEqual(clean.study.trials.map((t) => [t.state, t.value]), [['complete', -1], ['complete', -2]]);
  clean.close();
});

test('a corrupt line before the end is an error naming file and line; open refuses an existing journal; a resume can raise the budget', () => {
  const file = path.join(tmp(), 'bad.jsonl');
  const j = StudyJournal.open(file, { space: H6.space, trials: 2, seed: 1 });
  j.study.ask(2);
  j.close();
  assert.throws(() => StudyJournal.open(file, { space: H6.space, trials: 2 }), /already holds a journal; resume it/);
  const text = fs.readFileSync(file, 'utf8').split('\n');
  text[1] = '{"type":"ask",';
  fs.writeFileSync(path.join(path.dirname(file), 'bad2.jsonl'), text.join('\n'));
  assert.throws(() => StudyJournal.resume(path.join(path.dirname(file), 'bad2.jsonl')), /bad2\.jsonl:2: not a journal line/);
  assert.throws(() => StudyJournal.resume(path.join(path.dirname(file), 'missing.jsonl')), /cannot read the study journal .*missing\.jsonl/);
  const more = StudyJournal.resume(file, { trials: 5 });
  assert.equal(more.study.capacity, 5);
  assert.equal(more.study.ask(9).length, 5, '2 re-queued + 3 new');
  more.close();
  const later = StudyJournal.resume(file);
  assert.equal(later.study.capacity, 5, 'the raised budget is journaled');
  later.close();
});
