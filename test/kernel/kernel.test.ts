/**
 * The hpcdl kernel in a real Debian jupyter-server, driven through
 * @jupyterlab/services: imports without path fiddling, execute_result,
 * comm_info, interrupt callbacks, live displays, notebook execution.
 * Needs a build (npx tsc -p tsconfig.json) first.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  executeNotebook,
  installTestKernel,
  KernelSession,
  makeNotebook,
  multilineText,
  notebookOutputs,
  readSavedNotebook,
  REPO_ROOT,
  startJupyterServer,
  type ExecutionRecord,
  type JupyterServer,
  type NotebookOutput,
  type TestKernel,
} from '../support/jupyter';
import { skipIfMissing } from '../support/skips';

const PLOTLY = 'application/vnd.plotly.v1+json';

/**
 * How cells import the kernel hook: `hpcdl/kernel` once package.json exports
 * it (integration step), else `hpcdl` if the main entry re-exports it, else
 * the built module by absolute path (so the hook itself is still tested).
 */
function kernelModuleSpecifier(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8'));
  if (pkg.exports?.['./kernel']) return 'hpcdl/kernel';
  const main = path.join(REPO_ROOT, 'dist', 'src', 'index.d.ts');
  if (fs.existsSync(main) && /onInterrupt/.test(fs.readFileSync(main, 'utf8'))) return 'hpcdl';
  return path.join(REPO_ROOT, 'dist', 'kernel', 'index');
}

const hpcdlMainBuilt = fs.existsSync(path.join(REPO_ROOT, 'dist', 'src', 'index.js'));

function streamText(record: ExecutionRecord, name: 'stdout' | 'stderr'): string {
  return record.outputs
    .filter((o): o is Extract<NotebookOutput, { output_type: 'stream' }> => o.output_type === 'stream' && o.name === name)
    .map((o) => o.text)
    .join('');
}

function messagesOfType(record: ExecutionRecord, type: string) {
  return record.messages.filter((m) => m.header.msg_type === type);
}

describe('hpcdl kernel in jupyter-server', () => {
  let kernel: TestKernel;
  let server: JupyterServer;
  let session: KernelSession;

  before(async () => {
    kernel = installTestKernel('hpcdl-kerneltest');
    server = await startJupyterServer({ kernelPrefixes: [kernel.prefix] });
    session = await KernelSession.start(server, kernel.name);
  });

  after(async () => {
    await session?.shutdown();
    await server?.stop();
    kernel?.remove();
  });

  test('kernel info names the kernel and reports status ok', async () => {
    const info = await session.kernel.info;
    assert.equal(info.status, 'ok');
    assert.equal(info.language_info.name, 'typescript');
    assert.equal(info.implementation, 'hpcdl-tslab');
  });

  test('last expression is an execute_result, not stdout', async () => {
    const run = await session.execute('6 * 7');
    assert.equal(run.reply.status, 'ok');
    const results = run.outputs.filter((o) => o.output_type === 'execute_result');
    assert.equal(results.length, 1);
    assert.equal((results[0] as { data: Record<string, unknown> }).data['text/plain'], '42');
    assert.equal(streamText(run, 'stdout'), '');
  });

  test('errors become error outputs with ename and evalue', async () => {
    const run = await session.execute('throw new RangeError("bad range")');
    assert.equal(run.reply.status, 'error');
    const errors = run.outputs.filter((o) => o.output_type === 'error');
    assert.equal(errors.length, 1);
    assert.deepEqual([(errors[0] as any).ename, (errors[0] as any).evalue], ['RangeError', 'bad range']);
    const typeError = await session.execute('const n: number = "text";');
    assert.equal(typeError.reply.status, 'error');
    assert.equal((typeError.outputs[0] as any).ename, 'TypeScriptError');
    assert.match((typeError.outputs[0] as any).evalue, /not assignable to type 'number'/);
  });

  test('comm_info_request gets a comm_info_reply', async () => {
    const reply = await session.kernel.requestCommInfo({});
    assert.equal(reply.header.msg_type, 'comm_info_reply');
    assert.equal(reply.content.status, 'ok');
    assert.deepEqual((reply.content as { comms: object }).comms, {});
  });

  test("hpcdl's dependencies import with types from a directory outside the package", async () => {
    assert.ok(!server.rootDir.startsWith(REPO_ROOT), 'server root must be outside the repo for this test');
    const run = await session.execute(
      'import * as tf from "@tensorflow/tfjs-core";\nconst coreVersion: string = tf.version_core;\ncoreVersion',
    );
    assert.equal(run.reply.status, 'ok', JSON.stringify(run.outputs));
    const expected = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules/@tensorflow/tfjs-core/package.json'), 'utf8')).version;
    assert.deepEqual(run.outputs, [{ output_type: 'execute_result', execution_count: run.reply.execution_count, data: { 'text/plain': `'${expected}'` }, metadata: {} }]);
  });

  test('import { ... } from "hpcdl" type-checks and runs', { skip: skipIfMissing(!hpcdlMainBuilt && 'dist/src/index.js not built (npm run build)') }, async () => {
    const run = await session.execute('import * as hpcdl from "hpcdl";\nconst fig: hpcdl.FigureJson = { data: [] };\ntypeof hpcdl.LiveFigure + " " + fig.data.length');
    assert.equal(run.reply.status, 'ok', JSON.stringify(run.outputs));
    assert.equal((run.outputs[0] as any).data['text/plain'], "'function 0'");
    const wrong = await session.execute('import { LiveFigure } from "hpcdl";\nnew LiveFigure(42);');
    assert.equal(wrong.reply.status, 'error', 'a type error in a call into hpcdl must be reported');
    assert.equal((wrong.outputs[0] as any).ename, 'TypeScriptError');
  });

  test('names declared in earlier cells: shorthand properties, destructuring defaults, export, classes and functions', async () => {
    const valueOf = async (code: string): Promise<string> => {
      const run = await session.execute(code);
      assert.equal(run.reply.status, 'ok', `${code}\n${JSON.stringify(run.outputs)}`);
      const result = run.outputs.find((o) => o.output_type === 'execute_result') as any;
      return result?.data['text/plain'];
    };
    await valueOf('const model = { x: 1 };\nlet other = 2;\nfunction twice(n: number) { return 2 * n; }\nclass Box { v = 4; }');
    assert.equal(await valueOf('const o = { model };\no.model.x'), '1');
    assert.equal(await valueOf('const p = { model, other };\n[p.model.x, p.other]'), '[ 1, 2 ]');
    assert.equal(await valueOf('const wrap = () => ({ model, other });\nwrap().model.x + wrap().other'), '3');
    assert.equal(await valueOf('const { a = model } = {} as { a?: { x: number } };\nconst pick = ({ b = other }: { b?: number }) => b;\n[a.x, pick({})]'), '[ 1, 2 ]');
    assert.equal(await valueOf('({ other } = { other: 9 });\nother'), '9');
    assert.equal(await valueOf('const refs = { twice, Box };\n[refs.twice(3), new refs.Box().v, new Box().v]'), '[ 6, 4, 4 ]');
    assert.equal(await valueOf('class Sub extends Box { m() { return { model, twice }; } }\nnew Sub().m().twice(new Sub().m().model.x)'), '2');
    await valueOf('export const exported = 5;\nexport function exportedFn() { return 6; }\nexport class ExportedClass { w = 7; }\nexport { other };');
    assert.equal(await valueOf('({ exported, fn: exportedFn(), w: new ExportedClass().w })'), '{ exported: 5, fn: 6, w: 7 }');
    // Compile errors in a cell with shorthands still point at the user's line and column.
    const bad = await session.execute('const q = { model };\nconst s: string = q.model.x;');
    assert.equal(bad.reply.status, 'error');
    assert.match((bad.outputs.find((o) => o.output_type === 'error') as any).evalue, /^2:7 - Type 'number' is not assignable to type 'string'/);
  });

  test('interrupt aborts an awaiting cell and runs the registered callbacks', async () => {
    const spec = kernelModuleSpecifier();
    const setup = await session.execute(
      `import { onInterrupt } from ${JSON.stringify(spec)};\n` +
        'let interruptsSeen: string[] = [];\n' +
        'onInterrupt((reason) => { interruptsSeen.push(reason); console.log("callback: cancelling remote tasks (" + reason + ")"); });',
    );
    assert.equal(setup.reply.status, 'ok', JSON.stringify(setup.outputs));

    let started!: () => void;
    const cellStarted = new Promise<void>((resolve) => (started = resolve));
    const running = session.execute('console.log("waiting");\nawait new Promise((resolve) => setTimeout(resolve, 120_000));', {
      timeoutMs: 60_000,
      onIOPub: (msg) => {
        if (msg.header.msg_type === 'stream' && /waiting/.test((msg.content as any).text)) started();
      },
    });
    await cellStarted;
    await session.interrupt();
    const interrupted = await running;
    assert.equal(interrupted.reply.status, 'error');
    const error = interrupted.outputs.find((o) => o.output_type === 'error') as any;
    assert.equal(error?.ename, 'KernelInterrupted');
    assert.match(streamText(interrupted, 'stdout'), /callback: cancelling remote tasks \(SIGINT\)/);

    const after = await session.execute('interruptsSeen');
    assert.equal((after.outputs[0] as any).data['text/plain'], "[ 'SIGINT' ]");

    // Synchronous code: Node breaks it (vm breakOnSigint) and the callbacks still run, once.
    let syncStarted!: () => void;
    const syncCellStarted = new Promise<void>((resolve) => (syncStarted = resolve));
    const busy = session.execute('console.log("busy loop started");\nconst t0 = Date.now(); while (Date.now() - t0 < 60_000) {}', {
      timeoutMs: 60_000,
      onIOPub: (msg) => {
        if (msg.header.msg_type === 'stream' && /busy loop started/.test((msg.content as any).text)) syncStarted();
      },
    });
    // Interrupt once the loop runs (an interrupt during type checking only lands when the cell ends).
    await syncCellStarted;
    await session.interrupt();
    const busyResult = await busy;
    assert.equal((busyResult.outputs.find((o) => o.output_type === 'error') as any)?.ename, 'KernelInterrupted');
    const afterSync = await session.execute('interruptsSeen');
    assert.equal((afterSync.outputs[0] as any).data['text/plain'], "[ 'SIGINT', 'SIGINT' ]");
  });

  test('interrupt: a training loop given interruptSignal() stops within a step, inside the interrupted cell', { skip: skipIfMissing(!hpcdlMainBuilt && 'dist/src/index.js not built (npm run build)') }, async () => {
    const setup = await session.execute(
      'import * as tf from "@tensorflow/tfjs-core";\n' +
        'import { initBackend, trainLoop, type BatchSource, type EventBatch, type TrainableModel } from "hpcdl";\n' +
        `import { interruptSignal, onInterrupt } from ${JSON.stringify(kernelModuleSpecifier())};\n` +
        'await initBackend({ force: "cpu", log: () => undefined });\n' +
        'class Tiny implements TrainableModel {\n' +
        '  readonly name = "tiny";\n  readonly inputLayout = "NHWC" as const;\n' +
        '  readonly variables = [tf.variable(tf.zeros([3, 2]), true, "tiny_w"), tf.variable(tf.zeros([2]), true, "tiny_b")];\n' +
        '  logits(images: tf.Tensor4D, _training: boolean): tf.Tensor2D {\n' +
        '    return tf.tidy(() => tf.add(tf.matMul(tf.mean(images, [1, 2]) as tf.Tensor2D, this.variables[0] as tf.Tensor2D), this.variables[1]) as tf.Tensor2D);\n  }\n' +
        '  dispose() { this.variables.forEach((v) => v.dispose()); }\n}\n' +
        '/** Endless batches, 100 ms each. */\n' +
        'class SlowSource implements BatchSource {\n  readonly batchSize = 4;\n  readonly numEvents = 4 * 100_000;\n  startEpoch(_epoch: number) {}\n' +
        '  async next(): Promise<EventBatch> {\n    await new Promise((r) => setTimeout(r, 100));\n    const n = this.batchSize;\n' +
        '    return { images: new Float32Array(n * 12).fill(0.5), shape: [n, 2, 2, 3], layout: "NHWC", label: Int32Array.from({ length: n }, (_, i) => i % 2),\n' +
        '      normweight: new Float32Array(n).fill(1), weight: new Float32Array(n).fill(1), psr: new Uint8Array(n) };\n  }\n  async close() {}\n}\n' +
        'const steps: number[] = [];\nlet stepsAtInterrupt = -1;\nconst offTrainingInterrupt = onInterrupt(() => { stepsAtInterrupt = steps.length; });',
    );
    assert.equal(setup.reply.status, 'ok', JSON.stringify(setup.outputs));

    let third!: () => void;
    const thirdStep = new Promise<void>((resolve) => (third = resolve));
    const order: string[] = [];
    const training = session.execute(
      'const running = trainLoop({ model: new Tiny(), train: new SlowSource(), epochs: 1, displayInterval: 1_000_000,\n' +
        '  onEvent: (e) => { if (e.type === "step") { steps.push(e.step); console.log(`step ${e.step}`); } }, signal: interruptSignal() });\n' +
        'await running;',
      {
        timeoutMs: 60_000,
        onIOPub: (msg) => {
          const text = String((msg.content as any).text ?? '');
          if (msg.header.msg_type === 'stream' && /step 3\b/.test(text)) third();
          if (msg.header.msg_type === 'stream' && /interrupted at global step/.test(text)) order.push('loop stopped');
          if (msg.header.msg_type === 'error') order.push('cell error');
        },
      },
    );
    await thirdStep;
    await session.interrupt();
    const interrupted = await training;
    assert.equal((interrupted.outputs.find((o) => o.output_type === 'error') as any)?.ename, 'KernelInterrupted');
    assert.deepEqual(order, ['loop stopped', 'cell error'], 'the loop stops (and says so) before the interrupted cell ends');

    const check = await session.execute(
      'const stopped = await running;\nconst stepsWhenStopped = steps.length;\nawait new Promise((r) => setTimeout(r, 500));\noffTrainingInterrupt();\n' +
        'console.log(JSON.stringify({ interrupted: stopped.interrupted, globalStep: stopped.globalStep, stepsAtInterrupt, stepsWhenStopped, stepsLater: steps.length }));',
    );
    assert.equal(check.reply.status, 'ok', JSON.stringify(check.outputs));
    const r = JSON.parse(streamText(check, 'stdout'));
    assert.equal(r.interrupted, true);
    assert.ok(r.stepsAtInterrupt >= 3, JSON.stringify(r));
    assert.ok(r.globalStep - r.stepsAtInterrupt <= 1, `at most the step under way finishes after the interrupt: ${JSON.stringify(r)}`);
    assert.equal(r.stepsLater, r.stepsWhenStopped, 'no steps after the loop returned');
  });

  test('LiveFigure: one display_data, throttled in-place updates, final state kept', async () => {
    const spec = hpcdlMainBuilt ? 'hpcdl' : path.join(REPO_ROOT, 'dist', 'src', 'plots', 'live');
    const burst = await session.execute(
      `import { LiveFigure } from ${JSON.stringify(spec)};\n` +
        'const fig = new LiveFigure({ data: [{ type: "scatter", x: [0], y: [0] }], layout: { title: "burst" } });\n' +
        'for (let i = 1; i <= 200; i++) fig.update((f) => { (f.data[0] as any).x.push(i); (f.data[0] as any).y.push(2 * i); });',
    );
    assert.equal(burst.reply.status, 'ok', JSON.stringify(burst.outputs));
    const shown = messagesOfType(burst, 'display_data').filter((m) => PLOTLY in (m.content as any).data);
    assert.equal(shown.length, 1, 'exactly one figure display');
    const figureId = (shown[0].content as any).transient.display_id;
    assert.ok(figureId, 'the figure has a display_id');
    // 200 synchronous updates coalesce into one update, flushed before the cell ends.
    const updates = messagesOfType(burst, 'update_display_data');
    assert.equal(updates.length, 1);
    assert.equal((updates[0].content as any).transient.display_id, figureId);
    const saved = burst.outputs.find((o) => o.output_type === 'display_data' && PLOTLY in o.data) as any;
    const trace = saved.data[PLOTLY].data[0];
    assert.equal(trace.y.length, 201);
    assert.equal(trace.y[200], 400);
    assert.match(saved.data['text/html'], /window\.Plotly\.react/);
    assert.ok(!/cdn\./i.test(saved.data['text/html']), 'no CDN');

    const paced = await session.execute(
      'const fig2 = new LiveFigure({ data: [{ type: "scatter", y: [] as number[] }], layout: {} }, { maxUpdatesPerSecond: 10 });\n' +
        'for (let i = 0; i < 8; i++) { fig2.update((f) => { (f.data[0] as any).y.push(i); }); await new Promise((r) => setTimeout(r, 150)); }',
    );
    assert.equal(paced.reply.status, 'ok', JSON.stringify(paced.outputs));
    const pacedUpdates = messagesOfType(paced, 'update_display_data');
    assert.ok(pacedUpdates.length >= 2, `updates arrive while the cell runs (got ${pacedUpdates.length})`);
    const last = pacedUpdates[pacedUpdates.length - 1].content as any;
    assert.deepEqual(last.data[PLOTLY].data[0].y, [0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('notebook execution through the contents API', () => {
  let kernel: TestKernel;
  let server: JupyterServer;

  before(async () => {
    kernel = installTestKernel('hpcdl-nbtest');
    server = await startJupyterServer({ kernelPrefixes: [kernel.prefix] });
  });

  after(async () => {
    await server?.stop();
    kernel?.remove();
  });

  test('a display made in one cell and updated by a later cell is saved with its final state', { skip: skipIfMissing(!hpcdlMainBuilt && 'dist/src/index.js not built (npm run build)') }, async () => {
    const notebook = makeNotebook([
      'import { LiveTable } from "hpcdl";\nconst t = new LiveTable({ key: "a" });\nt.upsert({ a: 1 });',
      't.upsert({ a: 2 });\nawait new Promise((r) => setTimeout(r, 500));',
    ]);
    fs.writeFileSync(path.join(server.rootDir, 'update.ipynb'), JSON.stringify(notebook));
    const run = await executeNotebook(server, 'update.ipynb', { kernelName: kernel.name, saveAs: 'update.out.ipynb' });
    assert.deepEqual(run.failedCells, []);
    const saved = readSavedNotebook(server, 'update.out.ipynb');
    const tables = (saved.cells[0].outputs ?? []).filter((o) => o.output_type === 'display_data');
    assert.equal(tables.length, 1, JSON.stringify(saved.cells[0].outputs));
    assert.equal(multilineText((tables[0] as any).data['text/plain']), 'a\n-\n1\n2', 'the table in cell 1 holds both rows');
    assert.deepEqual(saved.cells[1].outputs, [], 'the update adds no output to cell 2');
    const update = run.messages.find((m) => m.header.msg_type === 'update_display_data' && /2$/.test((m.content as any).data['text/plain']));
    assert.ok(update, 'the update was sent while cell 2 ran');
  });

  test('KernelSession: records of earlier cells receive later display updates', async () => {
    const session = await KernelSession.start(server, kernel.name);
    try {
      const spec = hpcdlMainBuilt ? 'hpcdl' : path.join(REPO_ROOT, 'dist', 'src', 'plots', 'live');
      const first = await session.execute(`import { LiveTable } from ${JSON.stringify(spec)};\nconst t = new LiveTable({ key: "a" });\nt.upsert({ a: 1 });`);
      assert.equal(first.reply.status, 'ok', JSON.stringify(first.outputs));
      assert.equal(multilineText((first.outputs[0] as any).data['text/plain']), 'a\n-\n1');
      const second = await session.execute('t.upsert({ a: 2 });\nt.flush();');
      assert.equal(second.reply.status, 'ok', JSON.stringify(second.outputs));
      assert.equal(second.messages.filter((m) => m.header.msg_type === 'update_display_data').length, 1, 'the update is among the messages of the cell that sent it');
      assert.deepEqual(second.outputs, []);
      assert.equal(multilineText((first.outputs[0] as any).data['text/plain']), 'a\n-\n1\n2');
    } finally {
      await session.shutdown();
    }
  });

  test('a notebook with live displays runs top to bottom and saves final states', { skip: skipIfMissing(!hpcdlMainBuilt && 'dist/src/index.js not built (npm run build)') }, async () => {
    const notebook = makeNotebook([
      'import { LiveFigure, LiveTable, ProgressBar } from "hpcdl";\nimport fs from "node:fs";\nfs.existsSync("data.txt")',
      'const bar = new ProgressBar({ total: 5, label: "epochs" });\nconst table = new LiveTable({ key: "trial", title: "trials" });\n' +
        'const curve = new LiveFigure({ data: [{ type: "scatter", name: "loss", y: [] as number[] }], layout: { title: "loss" } });\n' +
        'for (let e = 1; e <= 5; e++) {\n  (curve.figure.data[0] as any).y.push(1 / e);\n  curve.update(curve.figure);\n' +
        '  table.upsert({ trial: 1, epoch: e, loss: 1 / e });\n  bar.update(e);\n  await new Promise((r) => setTimeout(r, 20));\n}',
      'console.log("done")',
    ]);
    fs.mkdirSync(path.join(server.rootDir, 'sub'));
    fs.writeFileSync(path.join(server.rootDir, 'sub', 'data.txt'), 'x');
    fs.writeFileSync(path.join(server.rootDir, 'sub', 'live.ipynb'), JSON.stringify(notebook));
    const run = await executeNotebook(server, 'sub/live.ipynb', { kernelName: kernel.name, saveAs: 'sub/live.out.ipynb' });
    assert.deepEqual(run.failedCells, []);
    const saved = readSavedNotebook(server, 'sub/live.out.ipynb');
    const outputs = notebookOutputs(saved);
    assert.ok(!outputs.some((o) => o.output.output_type === 'error'));
    // The kernel started in the notebook's directory (relative paths work).
    assert.equal(multilineText((saved.cells[0].outputs![0] as any).data['text/plain']), 'true');
    const figure = outputs.find((o) => o.output.output_type === 'display_data' && PLOTLY in o.output.data)!.output as any;
    assert.deepEqual(figure.data[PLOTLY].data[0].y, [1, 1 / 2, 1 / 3, 1 / 4, 1 / 5]);
    const texts = outputs.map((o) => multilineText((o.output as any).data?.['text/plain'])).join('\n');
    assert.match(texts, /epochs \[#+\] 5\/5 \(100%\)/);
    assert.match(texts, /trials\ntrial +epoch +loss/);
    assert.match(texts, /1 +5 +0\.2000/);
    assert.equal(multilineText((saved.cells[2].outputs![0] as any).text), 'done\n');
  });
});
