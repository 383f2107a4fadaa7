/**
 * The search's live trial table (cluster/search/live-display.ts): trials
 * waiting for an engine read 'queued', a search that ends with trials still
 * in flight (cancelled, interrupted) shows them 'cancelled', not 'running',
 * and learning rates print without padding zeros. Outside a kernel the table
 * keeps its rows without publishing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StudyDisplay } from '../../cluster/search/live-display';
import { Study } from '../../src/hpo/study';
import { MIME_BUNDLE } from '../../src/notebook-hooks';

test('queued trials are listed; after the search ends no trial reads running', () => {
  const study = new Study({ space: { learning_rate: { type: 'float', low: 1e-4, high: 1e-2, log: true } }, algorithm: 'random', trials: 4, seed: 3 });
  study.enqueue({ learning_rate: 3e-4 });
  const [first] = study.ask(1);
  assert.equal(first.params.learning_rate, 3e-4, 'the enqueued trial is handed out first');
  const [second] = study.ask(1);
  study.tell(first.id, { value: 0.8 });
  study.enqueue({ learning_rate: 1e-3 });
  const display = new StudyDisplay(study, { metric: 'val_auc', direction: 'max' });
  const state = () => Object.fromEntries(display.table.rows.map((r) => [r.trial, r.state]));
  assert.deepEqual(state(), { 0: 'complete', 1: 'running', 2: 'queued' });
  display.close();
  assert.deepEqual(state(), { 0: 'complete', 1: 'cancelled', 2: 'cancelled' }, `trial ${second.id} was in flight when the search ended`);
  assert.match(String(display.table[MIME_BUNDLE]()?.['text/plain']), /^0 +complete +0\.0003 /m);
});
