/** Live displays against a recording display channel (no kernel needed). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIME_BUNDLE, runCellEndHooks, type DisplayChannel, type DisplayContent } from '../../src/notebook-hooks';
import { LiveFigure, LiveTable, PLOTLY_MIME, ProgressBar } from '../../src/plots/live';

function recorder(): DisplayChannel & { sent: { content: DisplayContent; update: boolean; at: number }[] } {
  const sent: { content: DisplayContent; update: boolean; at: number }[] = [];
  return { sent, publish: (content, update) => sent.push({ content, update, at: performance.now() }) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const LOADER_SHOWN = Symbol.for('hpcdl.plots.plotlyLoaderShown');

/** Runs `body` with HPCDL_PLOTLY_INLINE set as given and the once-per-process loader flag cleared. */
function withInlineSetting<T>(inline: string | undefined, body: () => T): T {
  const saved = process.env.HPCDL_PLOTLY_INLINE;
  const holder = globalThis as unknown as Record<symbol, unknown>;
  delete holder[LOADER_SHOWN];
  if (inline === undefined) delete process.env.HPCDL_PLOTLY_INLINE;
  else process.env.HPCDL_PLOTLY_INLINE = inline;
  try {
    return body();
  } finally {
    if (saved === undefined) delete process.env.HPCDL_PLOTLY_INLINE;
    else process.env.HPCDL_PLOTLY_INLINE = saved;
    delete holder[LOADER_SHOWN];
  }
}

test('LiveFigure shows plotly JSON with an HTML fallback that loads plotly.js from the local nbextensions path, and coalesces bursts', () => {
  withInlineSetting(undefined, () => {
    const channel = recorder();
    const fig = new LiveFigure({ data: [{ y: [1] }], layout: { title: { text: 'loss' } } }, { channel });
    assert.equal(channel.sent.length, 1, 'one output: the figure, no inline plotly.js loader');
    const html = String(channel.sent[0].content.data['text/html']);
    assert.ok(html.length < 5_000, `the figure HTML stays small (${html.length} chars)`);
    assert.ok(!/plotly\.js v\d/.test(html), 'plotly.js is not inlined');
    assert.match(html, /'nbextensions\/hpcdl\/plotly\.min\.js'|"nbextensions\/hpcdl\/plotly\.min\.js"/);
    assert.match(html, /data-base-url/);
    // The script is valid JavaScript (it runs in the browser, where a syntax error shows nothing).
    const script = html.split('<script type="text/javascript">')[1].split('</script>')[0];
    assert.doesNotThrow(() => new Function(script), 'the figure script parses');
    // Every URL in the output is relative to the Jupyter server: no scheme, no host.
    assert.deepEqual(html.match(/\b[a-z][a-z0-9+.-]*:\/\/[^\s'"]*/gi) ?? [], []);
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
});

test('HPCDL_PLOTLY_INLINE=1: plotly.js is inlined once per process, before the first figure', () => {
  withInlineSetting('1', () => {
    const channel = recorder();
    new LiveFigure({ data: [] }, { channel });
    new LiveFigure({ data: [] }, { channel });
    const isLoader = (s: { content: DisplayContent }) => !(PLOTLY_MIME in s.content.data) && /plotly\.js v\d/.test(String(s.content.data['text/html']));
    assert.deepEqual(channel.sent.map(isLoader), [true, false, false], 'loader, figure, figure');
    assert.match(String(channel.sent[0].content.data['text/html']), /hpcdl-plotly-ready/);
    assert.ok(!/<script[^>]+src=/.test(String(channel.sent[0].content.data['text/html'])), 'no external script');
  });
});

test('LiveFigure sends paced updates at the configured rate while updates keep coming, final state last', async () => {
  const rate = 20; // messages per second: one per 50 ms
  const channel = recorder();
  const fig = new LiveFigure({ data: [{ y: [] as number[] }] }, { channel, maxUpdatesPerSecond: rate });
  const updates = 100;
  for (let i = 0; i < updates; i++) {
    fig.update((f) => void (f.data[0] as { y: number[] }).y.push(i));
    await sleep(10);
  }
  fig.close();
  assert.equal(channel.sent[0].update, false);
  assert.ok(channel.sent.slice(1).every((s) => s.update));
  const gaps = channel.sent.slice(1).map((s, i) => s.at - channel.sent[i].at);
  // close() flushes at once, so the last gap may be short; every paced one is at least 1/rate (timers fire late, never early).
  const paced = gaps.slice(0, -1);
  const minGap = Math.min(...paced);
  assert.ok(minGap >= 1000 / rate - 2, `at most ${rate} messages/s: smallest gap ${minGap.toFixed(1)} ms (gaps ${paced.map((g) => g.toFixed(0))})`);
  const spanS = (channel.sent[channel.sent.length - 1].at - channel.sent[0].at) / 1000;
  const measured = (channel.sent.length - 1) / spanS;
  assert.ok(measured <= rate * 1.05, `measured ${measured.toFixed(1)} messages/s > ${rate}`);
  // Updates kept flowing at ~100/s for ~1 s: the throttle sends while they come, not only at the end.
  assert.ok(paced.length >= 5, `paced updates while the cell ran: ${paced.length} in ${spanS.toFixed(2)} s`);
  const final = channel.sent[channel.sent.length - 1].content.data[PLOTLY_MIME] as { data: { y: number[] }[] };
  assert.deepEqual(final.data[0].y, Array.from({ length: updates }, (_, i) => i));
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
  table.upsert({ trial: 2, lr: 3e-4, status: 'running' });
  table.upsert({ trial: 1, status: 'done', auc: 0.91234567 });
  table.close();
  const last = channel.sent[channel.sent.length - 1].content.data;
  assert.equal(
    last['text/plain'],
    // significant digits without padding zeros: 3e-4 reads 0.0003, not 0.0003000
    ['scan', 'trial  lr      status   auc', '-----  ------  -------  ------', '1      0.001   done     0.9123', '2      0.0003  running'].join('\n'),
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
