/**
 * What an engine tells the controller about each task's start and end, and
 * what it keeps to tell again: task_started notices (delayed a little, and
 * dropped when the result is ready first), results (held briefly while a
 * pipeline of short tasks runs, so they travel together), results finished
 * while disconnected, and the recent results resent after a controller
 * restart (the controller dedupes).
 */
import { isMessageOf, makeMessage, type Message, type TaskResult } from '../protocol';
import { RESULT_HOLD_MAX, RESULT_HOLD_MS, STARTED_DELAY_MS } from './pacing';

/** Results are kept this long (and within these bounds) to resend them after a controller restart. */
const RESEND_WINDOW_MS = 30_000;
const RESEND_MAX_RESULTS = 20_000;
const RESEND_MAX_BYTES = 256 * 1024 * 1024;

type ResultMessage = Message<'task_result'>;

interface SentResult {
  msg: ResultMessage;
  sentAt: number;
  bytes: number;
}

/** The way to the controller. */
export interface LedgerLink {
  /** registered and open: results can go out now */
  readonly connected: boolean;
  send(msg: Message): void;
  flush(): void;
}

/** What the ledger needs to know of the runner's pace. */
export interface LedgerPace {
  /** tasks here usually take well under a millisecond */
  readonly tasksAreShort: boolean;
  /** another result follows almost at once */
  readonly moreResultsImminent: boolean;
  /** tasks running or queued */
  readonly load: number;
}

export class ResultLedger {
  /** Results finished while disconnected (sent on the next registration). */
  private outbox: Message[] = [];
  private held: ResultMessage[] = [];
  private holdTimer: NodeJS.Timeout | null = null;
  private recent = new Map<string, SentResult>();
  private recentBytes = 0;
  /** started tasks whose task_started is not sent yet (task id → start time, ms) */
  private startedUnsent = new Map<string, number>();
  /** cancels the pending task_started flush; null when none is pending */
  private cancelStartedFlush: (() => void) | null = null;

  constructor(
    private readonly link: LedgerLink,
    private readonly pace: LedgerPace,
  ) {}

  /**
   * task_started goes out one event-loop turn after the start (STARTED_DELAY_MS
   * when tasks here are usually sub-millisecond); a task whose result is ready
   * by then is reported by the result alone (it carries started_ms). That saves
   * the controller and every status subscriber a message per short task, and
   * keeps that message from competing with the result for the CPU.
   */
  noteStarted(taskId: string): void {
    this.startedUnsent.set(taskId, Date.now());
    if (this.cancelStartedFlush) return;
    const flush = (): void => {
      this.cancelStartedFlush = null;
      for (const id of this.startedUnsent.keys()) this.link.send(makeMessage('task_started', { task_id: id }));
      this.startedUnsent.clear();
    };
    if (this.pace.tasksAreShort) {
      const timer = setTimeout(flush, STARTED_DELAY_MS);
      this.cancelStartedFlush = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(flush);
      this.cancelStartedFlush = () => clearImmediate(immediate);
    }
  }

  /** Nothing left to announce: no timer should wake this engine later for nothing. */
  private cancelIdleStartedFlush(): void {
    if (this.startedUnsent.size > 0 || !this.cancelStartedFlush) return;
    this.cancelStartedFlush();
    this.cancelStartedFlush = null;
  }

  /** A task's result: sent now or with the next few, kept for a resend. */
  record(content: TaskResult, buffers: Uint8Array[]): void {
    const taskId = content.task_id;
    const startedMs = this.startedUnsent.get(taskId);
    this.startedUnsent.delete(taskId);
    this.cancelIdleStartedFlush();
    if (startedMs !== undefined) content.started_ms = startedMs;
    const msg = makeMessage('task_result', content, { buffers });
    this.held.push(msg);
    if (this.held.length < RESULT_HOLD_MAX && this.pace.moreResultsImminent) {
      this.holdTimer ??= setTimeout(() => this.release(), RESULT_HOLD_MS);
    } else {
      this.release();
    }
    this.remember(taskId, msg); // after the send: the bookkeeping is not on the round trip
  }

  /** Send the held results (or keep them for the next registration when disconnected). */
  release(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    const held = this.held;
    this.held = [];
    const connected = this.link.connected;
    for (const msg of held) {
      if (connected) this.link.send(msg);
      else this.outbox.push(msg);
    }
    // Nothing else running or queued: no other result can join this batch, so it leaves now
    // rather than at the end of the event-loop turn (the single round trip's latency).
    if (connected && this.pace.load === 0) this.link.flush();
  }

  /** Tasks whose results resend() sends again after a re-registration (finished while away, or sent shortly before). */
  resendIds(): string[] {
    const ids = new Set<string>();
    for (const msg of this.outbox) if (isMessageOf(msg, 'task_result')) ids.add(msg.content.task_id);
    for (const msg of this.held) ids.add(msg.content.task_id);
    const cutoff = Date.now() - RESEND_WINDOW_MS;
    for (const [id, sent] of this.recent) if (sent.sentAt >= cutoff) ids.add(id);
    return [...ids];
  }

  /** The result already sent for a task the controller sends again, if still kept. */
  sent(taskId: string): ResultMessage | undefined {
    return this.recent.get(taskId)?.msg;
  }

  /** After a (re)registration: results finished while away, and those sent just before the drop (the controller may have died before storing them). */
  resend(reconnected: boolean): void {
    const pending = this.outbox;
    this.outbox = [];
    const now = Date.now();
    if (reconnected) {
      for (const [id, sent] of this.recent) {
        if (now - sent.sentAt > RESEND_WINDOW_MS) this.forget(id);
        else if (!pending.includes(sent.msg)) pending.push(sent.msg);
      }
    }
    for (const msg of pending) this.link.send(msg);
  }

  /** Keep `msg` as the task's result to resend (it replaces an earlier one). */
  remember(taskId: string, msg: ResultMessage): void {
    this.forget(taskId);
    const bytes = msg.buffers.reduce((n, b) => n + b.byteLength, 0);
    this.recent.set(taskId, { msg, sentAt: Date.now(), bytes });
    this.recentBytes += bytes;
    const cutoff = Date.now() - RESEND_WINDOW_MS;
    for (const [id, sent] of this.recent) {
      const over = this.recent.size > RESEND_MAX_RESULTS || this.recentBytes > RESEND_MAX_BYTES;
      if (!over && sent.sentAt >= cutoff) break;
      if (id === taskId) break; // keep the newest even when it alone is over the byte bound
      this.forget(id);
    }
  }

  private forget(taskId: string): void {
    const old = this.recent.get(taskId);
    if (!old) return;
    this.recentBytes -= old.bytes;
    this.recent.delete(taskId);
  }
}
