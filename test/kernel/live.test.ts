/** Live displays against a recording display channel (no kernel needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIME_BUNDLE, runCellEndHooks, type DisplayChannel, type DisplayContent } from '../../src/notebook-hooks';
import { LiveFigure, LiveTable, PLOTLY_MIME, ProgressBar } from '../../src/plots/live';

function recorder(): DisplayChannel & { sent: { content: DisplayContent; update: boolean }[] } {
  const sent: { content: DisplayContent; update: boolean }[] = [];
  return { sent, publish: (content, update) => sent.push({ content, update }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('LiveFigure shows plotly JSON with an offline HTML fallback and coalesces bursts', () => {
  const channel = recorder();
  const fig = new LiveFigure({ data: [{ y: [1] }], layout: { title: { text: 'loss' } } }, { channel });
  // The first figure of the process is preceded by the plotly.js loader, inlined from plotly.js-dist-min.
  const loader = String(channel.sent[0].content.data['text/html']);
  assert.ok(!(PLOTLY_MIME in channel.sent[0].content.data));
  assert.match(loader, /plotly\.js v\d/);
  assert.match(loader, /hpcdl-plotly-ready/);
  assert.ok(!/<script[^>]+src=/.test(loader), 'no external script');
  const figures = channel.sent.filter((s) => PLOTLY_MIME in s.content.data);
  assert.equal(figures.length, 1);
  assert.equal(figures[0].update, false);
  assert.match(String(figures[0].content.data['text/plain']), /Figure "loss": 1 traces, 1 points/);
  for (let i = 0; i < 100; i++) fig.update((f) => void (f.data[0] as { y: number[] }).y.push(i));
  // A burst right after show() is held back by the throttle...
  const afterBurst = channel.sent.length;
  runCellEndHooks(() => assert.fail('flush failed'));
  // ...and flushed once when the cell ends.
  assert.equal(channel.sent.length, afterBurst + 1);
  const last = channel.sent[channel.sent.length - 1];
  assert.equal(last.update, true);
  assert.equal(last.content.transient?.display_id, fig.displayId);
  assert.equal(((last.content.data[PLOTLY_MIME] as { data: { y: number[] }[] }).data[0].y).length, 101);
  fig.close();
});

test('the plotly loader is displayed once per process, before the first figure', () => {
  const channel = recorder();
  new LiveFigure({ data: [] }, { channel });
  new LiveFigure({ data: [] }, { channel });
  const loaders = channel.sent.filter((s) => String(s.content.data['text/html']).includes('hpcdl-plotly-ready') && !(PLOTLY_MIME in s.content.data));
  // The first test in this file already showed it, so here it must not appear again.
  assert.equal(loaders.length, 0);
  assert.equal(channel.sent.length, 2);
});

test('LiveFigure sends paced updates at most at the configured rate, final state last', async () => {
  const channel = recorder();
  const fig = new LiveFigure({ data: [{ y: [] as number[] }] }, { channel, maxUpdatesPerSecond: 20 });
  for (let i = 0; i < 10; i++) {
    fig.update((f) => void (f.data[0] as { y: number[] }).y.push(i));
    await sleep(10);
  }
  fig.close();
  const stamps = channel.sent.map((s) => s.update);
  assert.equal(stamps[0], false);
  assert.ok(stamps.slice(1).every(Boolean));
  assert.ok(channel.sent.length < 11, `updates were coalesced (${channel.sent.length} messages for 10 updates)`);
  const final = channel.sent[channel.sent.length - 1].content.data[PLOTLY_MIME] as { data: { y: number[] }[] };
  assert.deepEqual(final.data[0].y, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test('outside a kernel nothing is published but state is kept', () => {
  const fig = new LiveFigure({ data: [{ y: [1] }] }, { channel: null });
  fig.update({ data: [{ y: [1, 2] }] });
  assert.deepEqual(fig.figure.data, [{ y: [1, 2] }]);
  assert.equal(fig.messagesSent, 0);
  assert.ok(PLOTLY_MIME in fig[MIME_BUNDLE]()!, 'not shown yet: a rich execute_result');
  assert.throws(() => fig.update({} as never), /expected a plotly figure/);
});

test('LiveTable upserts rows by key and renders HTML and aligned text', () => {
  const channel = recorder();
  const table = new LiveTable({ channel, key: 'trial', title: 'scan' });
  table.upsert({ trial: 1, lr: 0.001, status: 'running' });
  table.upsert({ trial: 2, lr: 0.01, status: 'running' });
  table.upsert({ trial: 1, status: 'done', auc: 0.91234567 });
  table.close();
  const last = channel.sent[channel.sent.length - 1].content.data;
  assert.equal(
    last['text/plain'],
    ['scan', 'trial  lr        status   auc', '-----  --------  -------  ------', '1      0.001000  done     0.9123', '2      0.01000   running'].join('\n'),
  );
  assert.match(String(last['text/html']), /<caption>scan<\/caption><thead><tr><th>trial<\/th><th>lr<\/th><th>status<\/th><th>auc<\/th>/);
  assert.throws(() => table.upsert({ lr: 1 }), /no "trial" key column/);
});

test('ProgressBar clamps and renders the fraction', () => {
  const channel = recorder();
  const bar = new ProgressBar({ channel, total: 4, label: 'epochs' });
  bar.increment().increment();
  bar.update(10);
  bar.close();
  const text = String(channel.sent[channel.sent.length - 1].content.data['text/plain']);
  assert.equal(text, `epochs [${'#'.repeat(30)}] 4/4 (100%)`);
  assert.equal(bar.value, 4);
});

test('a shown figure is not repeated as execute_result; string titles become plotly 3 title objects', () => {
  const channel = recorder();
  const fig = new LiveFigure({ data: [], layout: { title: 'loss', xaxis: { title: 'step' } } }, { channel });
  assert.equal(fig[MIME_BUNDLE](), null);
  const sent = channel.sent[channel.sent.length - 1].content.data[PLOTLY_MIME] as { layout: Record<string, any> };
  assert.deepEqual(sent.layout.title, { text: 'loss' });
  assert.deepEqual(sent.layout.xaxis.title, { text: 'step' });
});

test('LiveOutput default throttle: one update per 200 ms (5/s)', (t) => {
  t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 1_000_000 });
  const channel = recorder();
  const table = new LiveTable({ key: 'a', channel });
  table.upsert({ a: 1 });
  assert.equal(channel.sent.length, 1, 'first row shown at once');
  table.upsert({ a: 2 });
  t.mock.timers.tick(199);
  assert.equal(channel.sent.length, 1, 'held back for 200 ms after the last message');
  t.mock.timers.tick(1);
  assert.equal(channel.sent.length, 2, 'sent once 200 ms have passed');
  assert.equal(channel.sent[1].update, true);
  table.close();
});
