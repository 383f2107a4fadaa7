/**
 * The hpcdl Jupyter kernel: a messaging-protocol server (shell, control,
 * iopub, stdin, heartbeat) around tslab's TypeScript executor.
 *
 * Differences from stock tslab 1.0.22 (all needed by jupyter_kernel_test or
 * by users): kernel_info_reply has `status`; the last expression's value is an
 * `execute_result`; failures are `error` messages with ename/evalue/traceback;
 * `execute_input`, `history_request`, `interrupt_request` and a correctly
 * typed `comm_info_reply` are supported; shell requests run one at a time so
 * busy/idle bracket each request's outputs; interrupts run the callbacks
 * registered with src/notebook-hooks/interrupt-registry.ts.
 */
import { randomUUID } from 'node:crypto';
import { format, inspect } from 'node:util';
import { CellRunner, type CellError } from './cells';
import { MIME_BUNDLE, runCellEndHooks, runInterruptCallbacks, setDisplayChannel, type DisplayContent } from '../src/notebook-hooks';
import { History, type HistoryQuery } from './history';
import { loadTslab, loadZeromq, type ZmqSocket } from './tslab';
import {
  childMessage,
  MessageSigner,
  parseMessage,
  serializeMessage,
  type ConnectionInfo,
  type JupyterMessage,
} from './wire';

import { INTERRUPT_GRACE_MS, KERNEL_DISPLAY_NAME } from './constants';
export { KERNEL_DISPLAY_NAME };

type Msg = JupyterMessage<Record<string, unknown>>;

export interface KernelOptions {
  connection: ConnectionInfo;
  cwd: string;
  implementationVersion: string;
}

export class HpcdlKernel {
  private readonly signer: MessageSigner;
  private readonly session = randomUUID();
  private readonly cells: CellRunner;
  private readonly history = new History();
  private readonly sockets: Record<'shell' | 'control' | 'iopub' | 'stdin' | 'hb', ZmqSocket>;
  private readonly pendingSends = new Set<Promise<void>>();
  private shellQueue: Promise<void> = Promise.resolve();
  private executionCount = 0;
  private receivedShellRequests = 0;
  /** Execute requests received up to this sequence number are aborted (stop_on_error). */
  private abortThrough = 0;
  /** Request whose cell receives stdout/stderr/display output (the running or the last cell). */
  private outputParent: Msg | null = null;
  /** Settles when the running cell's code ends; null between cells. */
  private runningCell: Promise<unknown> | null = null;
  private readonly originalStderrWrite = process.stderr.write.bind(process.stderr);

  constructor(private readonly options: KernelOptions) {
    this.signer = new MessageSigner(options.connection.key, options.connection.signature_scheme);
    this.cells = new CellRunner(options.cwd);
    const zmq = loadZeromq();
    this.sockets = {
      shell: new zmq.Router(),
      control: new zmq.Router(),
      iopub: new zmq.Publisher(),
      stdin: new zmq.Router(),
      hb: new zmq.Reply(),
    };
  }

  async start(): Promise<void> {
    this.cells.warmUp();
    this.routeProcessOutput();
    this.installDisplayChannel();
    process.on('SIGINT', () => void this.interrupt('SIGINT'));
    const c = this.options.connection;
    const address = (port: number) =>
      c.transport === 'ipc' ? `ipc://${c.ip}-${port}` : `${c.transport}://${c.ip}:${port}`;
    await Promise.all([
      this.sockets.shell.bind(address(c.shell_port)),
      this.sockets.control.bind(address(c.control_port)),
      this.sockets.iopub.bind(address(c.iopub_port)),
      this.sockets.stdin.bind(address(c.stdin_port)),
      this.sockets.hb.bind(address(c.hb_port)),
    ]);
    void this.receiveLoop(this.sockets.shell, (msg) => this.enqueueShell(msg));
    void this.receiveLoop(this.sockets.control, (msg) => this.handleControl(msg));
    void this.heartbeatLoop();
    this.publish(null, 'status', { execution_state: 'starting' });
  }

  // ---- transport -------------------------------------------------------

  private async receiveLoop(socket: ZmqSocket, handle: (msg: Msg) => void): Promise<void> {
    try {
      for await (const frames of socket) {
        let msg: Msg;
        try {
          msg = parseMessage(frames, this.signer) as Msg;
        } catch (error) {
          this.log('dropping malformed message:', error);
          continue;
        }
        handle(msg);
      }
    } catch (error) {
      this.log('socket receive loop ended:', error);
    }
  }

  private async heartbeatLoop(): Promise<void> {
    try {
      for await (const frames of this.sockets.hb) await this.sockets.hb.send(frames);
    } catch {
      // socket closed on shutdown
    }
  }

  private send(socket: ZmqSocket, message: JupyterMessage<unknown>): Promise<void> {
    const frames = serializeMessage(message, this.signer, socket === this.sockets.iopub ? [] : message.identities);
    // Sent synchronously: libzmq's I/O thread delivers it even while a cell
    // blocks the event loop (zeromq.js allows overlapping sends while the
    // socket is writable; ROUTER and PUB never block, they drop at the HWM).
    const sending = socket.send(frames).catch(async (error) => {
      this.log('send failed, retrying once:', error);
      await new Promise((r) => setTimeout(r, 10));
      await socket.send(frames).catch((again) => this.log('send failed:', again));
    });
    this.pendingSends.add(sending);
    void sending.finally(() => this.pendingSends.delete(sending));
    return sending;
  }

  private reply(socket: ZmqSocket, request: Msg, msgType: string, content: unknown): Promise<void> {
    return this.send(socket, childMessage(request, msgType, content, this.session));
  }

  private publish(parent: Msg | null, msgType: string, content: unknown): void {
    const message = childMessage(parent, msgType, content, this.session);
    message.identities = [Buffer.from(`kernel.${this.session}.${msgType}`)];
    void this.send(this.sockets.iopub, message);
  }

  private log(...args: unknown[]): void {
    this.originalStderrWrite(`[hpcdl kernel] ${format(...args)}\n`);
  }

  // ---- outputs ---------------------------------------------------------

  private routeProcessOutput(): void {
    const route = (name: 'stdout' | 'stderr') =>
      ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown): boolean => {
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
        if (this.outputParent) this.publish(this.outputParent, 'stream', { name, text });
        else this.originalStderrWrite(text);
        const done = typeof encoding === 'function' ? encoding : callback;
        if (typeof done === 'function') (done as () => void)();
        return true;
      }) as typeof process.stdout.write;
    process.stdout.write = route('stdout');
    process.stderr.write = route('stderr');
  }

  private installDisplayChannel(): void {
    const publishDisplay = (content: DisplayContent, update: boolean) => {
      if (!this.outputParent) return;
      this.publish(this.outputParent, update ? 'update_display_data' : 'display_data', {
        data: content.data,
        metadata: content.metadata ?? {},
        transient: content.transient?.display_id ? { display_id: content.transient.display_id } : {},
      });
    };
    setDisplayChannel({ publish: publishDisplay });
    // tslab.display / tslab.newDisplay() in cells write through this hook.
    loadTslab().jupyter.lastWriteDisplayData = publishDisplay;
  }

  // ---- dispatch --------------------------------------------------------

  private enqueueShell(msg: Msg): void {
    const sequence = ++this.receivedShellRequests;
    this.shellQueue = this.shellQueue.then(() => this.handleWithStatus(this.sockets.shell, msg, sequence));
  }

  private handleControl(msg: Msg): void {
    void this.handleWithStatus(this.sockets.control, msg, 0);
  }

  private async handleWithStatus(socket: ZmqSocket, msg: Msg, sequence: number): Promise<void> {
    this.publish(msg, 'status', { execution_state: 'busy' });
    try {
      await this.dispatch(socket, msg, sequence);
    } catch (error) {
      this.log(`error handling ${msg.header.msg_type}:`, error);
    } finally {
      this.publish(msg, 'status', { execution_state: 'idle' });
    }
  }

  private async dispatch(socket: ZmqSocket, msg: Msg, sequence: number): Promise<void> {
    const c = msg.content;
    switch (msg.header.msg_type) {
      case 'kernel_info_request':
        return this.reply(socket, msg, 'kernel_info_reply', this.kernelInfo());
      case 'execute_request':
        return this.execute(socket, msg, sequence);
      case 'complete_request': {
        const info = this.cells.complete(String(c.code ?? ''), Number(c.cursor_pos ?? 0));
        return this.reply(socket, msg, 'complete_reply', {
          status: 'ok', matches: info.candidates, cursor_start: info.start, cursor_end: info.end, metadata: {},
        });
      }
      case 'inspect_request': {
        const text = this.cells.inspect(String(c.code ?? ''), Number(c.cursor_pos ?? 0));
        return this.reply(socket, msg, 'inspect_reply', {
          status: 'ok', found: text !== null, data: text === null ? {} : { 'text/plain': text }, metadata: {},
        });
      }
      case 'is_complete_request':
        return this.reply(socket, msg, 'is_complete_reply', this.cells.isComplete(String(c.code ?? '')));
      case 'history_request':
        return this.reply(socket, msg, 'history_reply', {
          status: 'ok', history: this.history.query(c as HistoryQuery),
        });
      case 'comm_info_request':
        return this.reply(socket, msg, 'comm_info_reply', { status: 'ok', comms: {} });
      case 'interrupt_request':
        await this.interrupt('interrupt_request');
        return this.reply(socket, msg, 'interrupt_reply', { status: 'ok' });
      case 'shutdown_request':
        return this.shutdown(socket, msg);
      case 'comm_open':
      case 'comm_msg':
      case 'comm_close':
        return; // no comm targets: ignored, as ipykernel does for unknown targets
      default:
        this.log(`unsupported message type ${msg.header.msg_type}`);
    }
  }

  private kernelInfo(): Record<string, unknown> {
    const tslab = loadTslab();
    return {
      status: 'ok',
      protocol_version: '5.3',
      implementation: 'hpcdl-tslab',
      implementation_version: this.options.implementationVersion,
      language_info: {
        name: 'typescript',
        version: tslab.typescript.version,
        mimetype: 'text/typescript',
        file_extension: '.ts',
        // Same trick as tslab: enables TypeScript highlighting in notebook and lab.
        codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true },
      },
      banner: `${KERNEL_DISPLAY_NAME} — tslab ${tslab.version}, TypeScript ${tslab.typescript.version}, Node ${process.version}`,
      help_links: [{ text: 'hpcdl kernel', url: 'https://github.com/yunabe/tslab' }],
    };
  }

  // ---- execution -------------------------------------------------------

  private async execute(socket: ZmqSocket, msg: Msg, sequence: number): Promise<void> {
    const code = String(msg.content.code ?? '');
    const silent = msg.content.silent === true;
    const storeHistory = !silent && msg.content.store_history !== false;
    if (sequence <= this.abortThrough) {
      return this.reply(socket, msg, 'execute_reply', { status: 'aborted', execution_count: this.executionCount });
    }
    if (storeHistory) {
      this.executionCount += 1;
      this.history.add(this.executionCount, code);
    }
    const count = this.executionCount;
    if (!silent) this.publish(msg, 'execute_input', { code, execution_count: count });

    this.outputParent = silent ? null : msg;
    let outcome;
    try {
      const run = this.cells.run(code);
      this.runningCell = run.catch(() => undefined);
      outcome = await run;
    } finally {
      this.runningCell = null;
      runCellEndHooks((error) => this.log('display flush failed:', error));
    }
    if (!outcome.ok) {
      if (this.cells.interruptedSynchronously) await this.interrupt('SIGINT');
      if (msg.content.stop_on_error !== false) this.abortThrough = this.receivedShellRequests;
      return this.replyError(socket, msg, count, outcome.error, silent);
    }
    for (const warning of outcome.warnings) process.stderr.write(warning + '\n');
    const data = outcome.hasValue && !silent ? mimeBundleOf(outcome.value) : null;
    if (data) {
      if (storeHistory) this.history.setOutput(count, String(data['text/plain'] ?? ''));
      this.publish(msg, 'execute_result', { execution_count: count, data, metadata: {} });
    }
    return this.reply(socket, msg, 'execute_reply', {
      status: 'ok', execution_count: count, payload: [], user_expressions: {},
    });
  }

  private replyError(socket: ZmqSocket, msg: Msg, count: number, error: CellError, silent: boolean): Promise<void> {
    if (!silent) this.publish(msg, 'error', error);
    return this.reply(socket, msg, 'execute_reply', { status: 'error', execution_count: count, ...error });
  }

  /**
   * Aborts interruptSignal() and runs the onInterrupt callbacks first, then
   * gives the running cell INTERRUPT_GRACE_MS to end by itself: work that
   * honours the signal (a training loop finishing its step and writing its
   * checkpoint) then ends inside the cell, with its last output there. After
   * that the cell's await is abandoned. Either way the cell fails with
   * KernelInterrupted, so queued cells do not run.
   */
  private async interrupt(reason: string): Promise<void> {
    const cell = this.runningCell;
    if (cell) this.cells.markInterrupted();
    const callbacks = runInterruptCallbacks(reason);
    if (cell) {
      let timer: NodeJS.Timeout | undefined;
      const grace = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), INTERRUPT_GRACE_MS);
      });
      const endedByItself = await Promise.race([cell.then(() => true as const), grace]);
      clearTimeout(timer);
      if (!endedByItself && this.runningCell === cell) this.cells.interrupt();
    }
    const outcome = await callbacks;
    for (const error of outcome.errors) {
      process.stderr.write(`interrupt callback failed: ${format(error)}\n`);
    }
  }

  /**
   * The server that started us is gone: cancel what the cells run (interrupt
   * callbacks, e.g. the cluster clients' cancel-all, bounded by
   * INTERRUPT_GRACE_MS) and exit; clusters a cell started stop with the
   * process (their exit handlers kill the controller and engines).
   */
  async exitOrphaned(reason: string): Promise<never> {
    this.log(`${reason}; shutting down`);
    const callbacks = runInterruptCallbacks('parent exited').catch(() => undefined);
    await Promise.race([callbacks, new Promise((r) => setTimeout(r, INTERRUPT_GRACE_MS))]);
    this.cells.close();
    for (const s of Object.values(this.sockets)) {
      s.linger = 0;
      s.close();
    }
    process.exit(0);
  }

  private async shutdown(socket: ZmqSocket, msg: Msg): Promise<void> {
    const restart = msg.content.restart === true;
    await this.reply(socket, msg, 'shutdown_reply', { status: 'ok', restart });
    await Promise.all(this.pendingSends);
    // Leave time for the final idle status (sent by handleWithStatus) to go out.
    setTimeout(() => {
      this.cells.close();
      for (const s of Object.values(this.sockets)) {
        s.linger = 0;
        s.close();
      }
      process.exit(0);
    }, 50);
  }
}

/**
 * text/plain (as the Node REPL shows it) plus whatever the value offers via
 * MIME_BUNDLE; null when the value's MIME_BUNDLE method returns null (e.g. a
 * live display already shown in the cell: no duplicate execute_result).
 */
export function mimeBundleOf(value: unknown): Record<string, unknown> | null {
  const provider = (value as Record<symbol, unknown> | null)?.[MIME_BUNDLE];
  const rich = typeof provider === 'function' ? (provider as () => Record<string, unknown> | null).call(value) : undefined;
  if (rich === null) return null;
  const plain = typeof value === 'string' ? inspect(value) : inspect(value, { depth: 4, colors: false });
  return { 'text/plain': plain, ...(rich ?? {}) };
}
