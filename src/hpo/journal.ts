/**
 * Study journal: every ask/report/tell as a JSON line, fsync'd before the
 * study method returns, and the resume that rebuilds the Study from it
 * (finished trials kept, in-flight ones back to pending; the samplers are pure
 * functions of seed and history, so later proposals equal the uninterrupted
 * study's).
 *
 *   line 1:  {"type":"study","version":1,"options":{...}}   (seed filled in)
 *   then:    StudyRecord lines, and {"type":"options","trials":N} when a resume raised the budget
 */
import * as fs from 'node:fs';
import { eventRecord, Study, type StudyClock, type StudyRecord } from './study';
import type { StudyOptions } from './types';

export const JOURNAL_VERSION = 1;

export interface ResumeOptions {
  /** raise (or lower) the trial budget of the resumed study */
  trials?: number;
  maxParallel?: number;
  clock?: StudyClock;
}

export class JournalError extends Error {
  override name = 'JournalError';
}

interface Header { type: 'study'; version: number; options: StudyOptions }
interface OptionsLine { type: 'options'; trials?: number; maxParallel?: number }

export class StudyJournal {
  readonly path: string;
  readonly study: Study;
  /** problems found while reading (e.g. a torn last line), each naming file and line */
  readonly warnings: string[];
  private fd: number | null;
  private readonly unsubscribe: () => void;

  private constructor(path: string, study: Study, fd: number, warnings: string[]) {
    this.path = path;
    this.study = study;
    this.fd = fd;
    this.warnings = warnings;
    this.unsubscribe = study.onChange((e) => this.append(eventRecord(e)));
  }

  /** a new journal at `path` (which must not hold a journal already) for a new study */
  static open(path: string, options: StudyOptions, clock?: StudyClock): StudyJournal {
    if (fs.existsSync(path) && fs.statSync(path).size > 0) throw new JournalError(`${path} already holds a journal; resume it with StudyJournal.resume (or choose another path)`);
    const study = new Study(options, clock);
    const fd = fs.openSync(path, 'a');
    const j = new StudyJournal(path, study, fd, []);
    j.append({ type: 'study', version: JOURNAL_VERSION, options: study.options } satisfies Header);
    return j;
  }

  /**
   * Rebuilds the study written to `path` and keeps appending to it. A torn
   * (unparsable) last line, as a crash mid-write leaves, is reported in
   * `warnings` and cut off; a bad line anywhere else is an error naming the
   * file and line.
   */
  static resume(path: string, opts: ResumeOptions = {}): StudyJournal {
    let buf: Buffer;
    try {
      buf = fs.readFileSync(path);
    } catch (e) {
      throw new JournalError(`cannot read the study journal ${path}: ${(e as Error).message}`);
    }
    const warnings: string[] = [];
    const lines: { text: string; start: number; lineNo: number }[] = [];
    let start = 0;
    let lineNo = 1;
    while (start < buf.length) {
      let end = buf.indexOf(0x0a, start);
      if (end < 0) end = buf.length;
      const text = buf.subarray(start, end).toString('utf8');
      if (text.trim() !== '') lines.push({ text, start, lineNo });
      start = end + 1;
      lineNo++;
    }
    const parsed: { value: unknown; lineNo: number }[] = [];
    let keepBytes = buf.length;
    for (let i = 0; i < lines.length; i++) {
      try {
        parsed.push({ value: JSON.parse(lines[i].text), lineNo: lines[i].lineNo });
      } catch (e) {
        if (i === lines.length - 1 && i > 0) {
          warnings.push(`${path}:${lines[i].lineNo}: torn last line ignored (${(e as Error).message}); the trial it recorded runs again`);
          keepBytes = lines[i].start;
        } else {
          throw new JournalError(`${path}:${lines[i].lineNo}: not a journal line (${(e as Error).message})`);
        }
      }
    }
    if (parsed.length === 0) throw new JournalError(`${path}: empty journal (no study header)`);
    const header = parsed[0].value as Header;
    if (!header || header.type !== 'study' || typeof header.options !== 'object') throw new JournalError(`${path}:${parsed[0].lineNo}: the first line is not a study header`);
    if (header.version !== JOURNAL_VERSION) throw new JournalError(`${path}:${parsed[0].lineNo}: journal version ${header.version}, this hpcdl reads version ${JOURNAL_VERSION}`);
    const options: StudyOptions = { ...header.options };
    for (const p of parsed.slice(1)) {
      const o = p.value as OptionsLine;
      if (o && o.type === 'options') {
        if (o.trials !== undefined) options.trials = o.trials;
        if (o.maxParallel !== undefined) options.maxParallel = o.maxParallel;
      }
    }
    const change: OptionsLine = { type: 'options' };
    if (opts.trials !== undefined && opts.trials !== options.trials) options.trials = change.trials = opts.trials;
    if (opts.maxParallel !== undefined && opts.maxParallel !== options.maxParallel) options.maxParallel = change.maxParallel = opts.maxParallel;
    let study: Study;
    try {
      study = new Study(options, opts.clock);
    } catch (e) {
      throw new JournalError(`${path}:${parsed[0].lineNo}: ${(e as Error).message}`);
    }
    for (const p of parsed.slice(1)) {
      const r = p.value as StudyRecord | OptionsLine;
      if (r && r.type === 'options') continue;
      try {
        study.replay(r as StudyRecord);
      } catch (e) {
        throw new JournalError(`${path}:${p.lineNo}: cannot replay ${JSON.stringify(r).slice(0, 120)}: ${(e as Error).message}`);
      }
    }
    if (keepBytes < buf.length) fs.truncateSync(path, keepBytes);
    const fd = fs.openSync(path, 'a');
    // a file cut mid-line by a crash, even a parsable one, must not glue the next record to it
    if (keepBytes > 0 && buf[keepBytes - 1] !== 0x0a) {
      fs.writeSync(fd, '\n');
      fs.fsyncSync(fd);
    }
    const j = new StudyJournal(path, study, fd, warnings);
    if (change.trials !== undefined || change.maxParallel !== undefined) j.append(change);
    study.requeueInFlight();
    return j;
  }

  private append(record: object): void {
    if (this.fd === null) return;
    fs.writeSync(this.fd, JSON.stringify(record) + '\n');
    fs.fsyncSync(this.fd);
  }

  /** stops journaling (the study stays usable in memory) and closes the file */
  close(): void {
    if (this.fd === null) return;
    this.unsubscribe();
    fs.closeSync(this.fd);
    this.fd = null;
  }
}
